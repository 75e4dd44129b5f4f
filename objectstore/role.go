package objectstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/s3err"
)

const (
	// roleDuration is how long each session of roleArn lasts (STS's
	// default, and MinIO's).
	roleDuration = time.Hour
	// roleExpiryWindow: credentials this close to their expiry are renewed
	// before the next request is signed, so a long upload never sends a
	// part with a session that ends while it is on the wire.
	roleExpiryWindow = 5 * time.Minute
)

// stsClient talks to c's STS endpoint (config.ObjectStore.STSEndpoint) with
// cfg's credentials: stsUrl, else s3Url, else AWS's regional STS.
func stsClient(cfg aws.Config, c *config.ObjectStore) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		if ep := c.STSEndpoint(); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
		if o.Region == "" { // the bucket's region is not known yet: any regional STS answers
			o.Region = config.DefaultRegion
		}
	})
}

// assumeRole makes cfg's credentials those of c.RoleARN, assumed through
// STS with the credentials cfg has (credentialsFile, web identity,
// instance role) and renewed roleExpiryWindow before each session ends.
// It assumes the role once here, so that a refusal is an Init error.
func assumeRole(ctx context.Context, cfg *aws.Config, c *config.ObjectStore) error {
	if c.RoleARN == "" {
		return nil
	}
	provider := stscreds.NewAssumeRoleProvider(stsClient(*cfg, c), c.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = c.RoleSessionName
		o.Duration = roleDuration
		if c.ExternalID != "" {
			o.ExternalID = aws.String(c.ExternalID)
		}
	})
	cfg.Credentials = aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = roleExpiryWindow
	})
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return roleError(c, err)
	}
	return nil
}

// roleError says why roleArn could not be assumed and what to fix: the
// credentials under the role when STS refused them, else the trust
// policy or externalId.
func roleError(c *config.ObjectStore, err error) error {
	where := "AWS STS"
	if ep := c.STSEndpoint(); ep != "" {
		where = "STS at " + ep
	}
	if kind(err) != ErrAccessDenied {
		return fmt.Errorf("assume role %s (roleArn) through %s: %w", c.RoleARN, where, mark(err))
	}
	if refusesCredentials(err) {
		return fmt.Errorf("%w: %s refused the credentials meant to assume role %s (roleArn): correct %s: %w",
			ErrAccessDenied, where, c.RoleARN, credentialsWhere(c), err)
	}
	ext := "no externalId is set (if the trust policy has an sts:ExternalId condition, set externalId to its value)"
	if c.ExternalID != "" {
		ext = "externalId is set (it must equal the trust policy's sts:ExternalId condition)"
	}
	return fmt.Errorf("%w: %s refused to assume role %s (roleArn, session %s; %s): the role's trust policy must allow the caller "+
		"(the principal of credentialsFile, or of the pod's own identity) sts:AssumeRole: %w", ErrAccessDenied, where, c.RoleARN, c.RoleSessionName, ext, err)
}

// refusesCredentials is true when STS refused the caller's keys
// themselves, not the role: AWS says InvalidClientTokenId for an unknown
// access key and SignatureDoesNotMatch for a wrong secret; MinIO says
// AccessDenied for both, with S3's message for each.
func refusesCredentials(err error) bool { return s3err.Of(err).BadCredentials() }

// asRole names the role in an access-denied error of a request made as
// roleArn (explain calls it): the role lacks the permission, not the
// credentials under it.
func (s *Store) asRole(err error) error {
	if err == nil || s.cfg.RoleARN == "" || !errors.Is(err, ErrAccessDenied) {
		return err
	}
	return fmt.Errorf("%w (as role %s)", err, s.cfg.RoleARN)
}

// CallerIdentity says which identity the store's requests are made as,
// for doctor: the ARN and account STS's GetCallerIdentity returns (on AWS
// with roleArn, the assumed-role ARN with its session name); on a server
// without GetCallerIdentity (MinIO), the role or the credentials' source
// and the first four characters of the access key. It never shows a
// secret key or session token. Call it after Init; it asks within
// requestTimeout.
func (s *Store) CallerIdentity(ctx context.Context) (string, error) {
	if s.cfg == nil {
		return "", errors.New("caller identity: the store has no configuration yet (Init first)")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return callerIdentity(ctx, s.awsCfg, s.cfg)
}

// callerIdentity says which identity cfg's requests are made as: STS's
// GetCallerIdentity where the endpoint serves it (AWS); elsewhere (MinIO
// answers it with an error) what the credentials say of themselves. It
// never shows more of a key than its first four characters, and never a
// secret key or session token.
func callerIdentity(ctx context.Context, cfg aws.Config, c *config.ObjectStore) (string, error) {
	out, err := stsClient(cfg, c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err == nil {
		return fmt.Sprintf("%s (account %s)", aws.ToString(out.Arn), aws.ToString(out.Account)), nil
	}
	// On an S3-compatible server any answer but bad credentials means it
	// has no GetCallerIdentity (MinIO: 400 InvalidParameterValue,
	// "Unsupported action GetCallerIdentity").
	if c.STSEndpoint() == "" || !s3err.Answered(err) || s3err.Of(err).BadCredentials() {
		return "", fmt.Errorf("ask STS who the credentials are: %w", mark(err))
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("read credentials: %w", mark(err))
	}
	return describeCredentials(creds, c), nil
}

// describeCredentials names credentials by their source, the start of the
// access key and, for temporary ones, when they expire.
func describeCredentials(creds aws.Credentials, c *config.ObjectStore) string {
	key := creds.AccessKeyID
	if len(key) > 4 {
		key = key[:4]
	}
	expires := ""
	if creds.CanExpire {
		expires = ", expires " + creds.Expires.UTC().Format(time.RFC3339)
	}
	switch {
	case c.RoleARN != "":
		return fmt.Sprintf("role %s assumed as session %s; temporary key %s…%s", c.RoleARN, c.RoleSessionName, key, expires)
	case c.CredentialsFile != "":
		profile := c.Profile
		if profile == "" {
			profile = "default"
		}
		kind := "access key"
		if creds.SessionToken != "" {
			kind = "temporary key"
		}
		return fmt.Sprintf("%s %s… from credentialsFile %s profile %s%s", kind, key, c.CredentialsFile, profile, expires)
	}
	return fmt.Sprintf("access key %s… from %s%s", key, creds.Source, expires)
}
