package objectstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/awsconn"
	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/internal/s3err"
	"example.io/velero-plugin-s3csi/internal/veleroplugin"
	"example.io/velero-plugin-s3csi/kube"
)

// Diagnose runs the BSL's checks in order, each a line of r, with the
// store's own code: the config parse, the credentials, the endpoint, the
// bucket, then Init itself and probe objects written, read, listed,
// signed and deleted under <prefix>/.doctor/ through the store's methods.
// A check that later ones need stops the run when it fails. Nothing is
// written outside .doctor/.
func Diagnose(ctx context.Context, log logrus.FieldLogger, k kube.Reader, cfg map[string]string, r finding.Reporter) {
	d := &diagnosis{s: New(log, k), raw: cfg, r: r}
	for _, step := range []func(context.Context) bool{d.config, d.transport, d.credentials, d.bucket, d.folder, d.lock, d.init} {
		if !step(ctx) {
			r.Note("later checks", "skipped: they need the one that failed")
			return
		}
	}
	d.probes(ctx)
}

type diagnosis struct {
	s   *Store
	raw map[string]string
	r   finding.Reporter
	c   *config.ObjectStore // as parsed, never written
	// region is the region requests are signed for: the config's, or the
	// one AWS names for the bucket (regionLookup), as Init finds it.
	region string
	hc     *awshttp.BuildableClient
	aws    aws.Config
	key    string // the access key ID in use, for hints
	cl     *s3.Client
}

func (d *diagnosis) config(ctx context.Context) bool {
	var pc config.PluginConfig
	ok := d.r.Check("config parses", func() (string, error) {
		var err error
		if pc, err = d.s.kube.PluginConfig(ctx, veleroplugin.KindObjectStore, Name); err != nil {
			return "", err
		}
		if d.c, err = config.ParseObjectStore(config.Layers(pc, "BSL config", d.raw)...); err != nil {
			return "", err
		}
		return describeConfig(d.c) + "; " + pc.Note, nil
	})
	if !ok {
		return false
	}
	if !d.r.Check("spool folder", func() (string, error) { return d.c.SpoolPath() + " takes a file", d.s.checkSpool(d.c) }) {
		return false
	}
	if d.c.CustomerKeySecret.Name != "" || d.c.EncryptionIdentitySecret.Name != "" || d.c.EncryptionIdentityFile != "" || d.c.Signs() {
		if !d.r.Check("keys named by the BSL", func() (string, error) {
			err := d.s.readKeys(ctx, d.c)
			return keysRead(d.c), err
		}) {
			return false
		}
	}
	return true
}

// describeConfig lists every key that was set, with where it came from.
func describeConfig(c *config.ObjectStore) string { return c.SetKeys() }

func keysRead(c *config.ObjectStore) string {
	var got []string
	if len(c.CustomerKey) > 0 {
		got = append(got, "SSE-C key")
	}
	if len(c.EncryptionIdentities) > 0 {
		got = append(got, fmt.Sprintf("%d age identities", len(c.EncryptionIdentities)))
	}
	if c.SigningKey != nil {
		got = append(got, "minisign signing key "+c.SigningKey.ID().String())
	}
	return "read " + strings.Join(got, " and ")
}

// transport checks DNS, TCP, TLS and the clock against the endpoint.
func (d *diagnosis) transport(ctx context.Context) bool {
	key, u := "s3Url", endpointURL(d.c, d.c.Region) // with regionLookup, AWS's global endpoint
	if d.c.S3URL == "" {
		key = "AWS S3 endpoint"
	}
	if !d.r.Check(fmt.Sprintf("%s %s reachable", key, u.Redacted()), func() (string, error) { return checkReachable(ctx, d.c, key, u) }) {
		return false
	}
	if u.Scheme == "https" && !d.r.Check("TLS certificate of "+u.Host, func() (string, error) { return checkTLS(ctx, d.c, key, u) }) {
		return false
	}
	hc, err := newHTTPClient(d.c)
	if err != nil {
		return d.r.Check("HTTP client", func() (string, error) { return "", err })
	}
	d.hc = hc
	return d.r.Check("clock against the server's", func() (string, error) { return checkClock(ctx, d.c, hc, u) })
}

// credentials checks the credentials file and that the SDK finds keys.
func (d *diagnosis) credentials(ctx context.Context) bool {
	if d.c.CredentialsFile != "" {
		ok := d.r.Check("credentials file "+d.c.CredentialsFile, func() (string, error) {
			return checkCredentialsFile(d.c)
		})
		if !ok {
			return false
		}
	}
	return d.r.Check("credentials found", func() (string, error) {
		var err error
		if d.aws, err = loadAWSConfig(ctx, d.c, d.hc); err != nil {
			return "", err
		}
		v, err := d.aws.Credentials.Retrieve(ctx)
		if err != nil {
			return "", err
		}
		d.key = v.AccessKeyID
		return fmt.Sprintf("access key %s (from %s)", keyHint(v.AccessKeyID), v.Source), nil
	})
}

// identity notes who the store's requests are made as (the assumed
// role's session with roleArn). It is information, not a check: without
// roleArn the plugin needs no STS, and with it the role was assumed
// already.
func (d *diagnosis) identity(ctx context.Context) {
	ictx, cancel := context.WithTimeout(ctx, d.c.RequestTimeout)
	defer cancel()
	who, err := callerIdentity(ictx, d.aws, d.c)
	if err != nil {
		who = fmt.Sprintf("not known: %v", err)
	}
	d.r.Note("identity in use", who)
}

// keyHint is enough of an access key ID to tell keys apart, never all.
func keyHint(id string) string {
	if len(id) <= 4 {
		return "…"
	}
	return id[:4] + "…"
}

// bucket asks the bucket's location with the credentials: the first
// signed request, which says whether the server takes the keys, whether
// the bucket is there and which region it is in.
func (d *diagnosis) bucket(ctx context.Context) bool {
	d.region = d.c.Region
	if d.c.RegionLookup {
		ok := d.r.Check("region of bucket "+d.c.Bucket, func() (string, error) {
			var err error
			d.region, err = lookupRegion(ctx, d.aws, d.c)
			return "AWS says " + d.region, err
		})
		if !ok {
			return false
		}
	}
	d.aws.Region = d.region
	client := newS3Client(d.aws, d.c, d.c.S3URL)
	d.cl = client
	rctx, cancel := context.WithTimeout(ctx, d.c.RequestTimeout)
	defer cancel()
	loc, err := client.GetBucketLocation(rctx, &s3.GetBucketLocationInput{Bucket: aws.String(d.c.Bucket)})
	if !d.r.Check("credentials accepted by the server", func() (string, error) { return "signed requests pass", credentialsProblem(d.c, d.key, err) }) {
		return false
	}
	d.identity(ctx)
	note := ""
	ok := d.r.Check(fmt.Sprintf("bucket %q exists in region %s", d.c.Bucket, d.region), func() (string, error) {
		if err == nil {
			region := string(loc.LocationConstraint)
			if region == "" {
				region = "us-east-1"
			}
			if region != d.region {
				var seen string
				seen, note, err = d.otherRegion(ctx, region)
				return seen, err
			}
			return "the server puts it in " + region, nil
		}
		return bucketProblem(ctx, d.c, d.region, client, err)
	})
	if ok && note != "" {
		d.r.Note("region the server names", note)
	}
	return ok
}

// otherRegion is a bucket whose GetBucketLocation names another region
// than the BSL's. That answer alone proves nothing: AWS answers it
// whatever region the request is signed for, and MinIO started without a
// region answers us-east-1 while it takes any region (Velero's docs set
// region: minio). What fails is a request signed for the BSL's region
// that the server refuses, so a listing is the check; the answer is a
// note when the server takes the region.
func (d *diagnosis) otherRegion(ctx context.Context, answer string) (seen, note string, err error) {
	rctx, cancel := context.WithTimeout(ctx, d.c.RequestTimeout)
	defer cancel()
	_, err = d.cl.ListObjectsV2(rctx, &s3.ListObjectsV2Input{Bucket: aws.String(d.c.Bucket), MaxKeys: aws.Int32(1)})
	if s3err.Of(err) == s3err.WrongRegion {
		want := s3err.ExpectedRegion(err)
		if want == "" {
			want = answer
		}
		return "", "", finding.Fail(fmt.Sprintf("bucket %q exists in region %s", d.c.Bucket, d.region),
			fmt.Errorf("the server is in region %s, the requests are signed for %s (%s; its answer to GetBucketLocation is %s)", want, d.region, s3err.Code(err), answer),
			"set region: %s in the BSL config", want)
	}
	note = fmt.Sprintf("GetBucketLocation answers %s, not the BSL's %s; the server takes requests signed for %s, so this is no fault", answer, d.region, d.region)
	if err != nil {
		return fmt.Sprintf("the server did not refuse region %s (a listing answered %s)", d.region, s3err.Code(err)), note, nil
	}
	return fmt.Sprintf("the server takes requests signed for region %s", d.region), note, nil
}

// credentialsProblem is the credentials' part of the first signed
// request's answer: nil unless the server refused the keys themselves.
func credentialsProblem(c *config.ObjectStore, keyID string, err error) error {
	check, where := "credentials accepted by the server", credentialsWhere(c)
	code := s3err.Code(err)
	switch s3err.Of(err) {
	case s3err.UnknownAccessKey:
		return finding.Fail(check, fmt.Errorf("the server knows no access key %s (%s)", keyHint(keyID), code),
			"correct aws_access_key_id in %s", where)
	case s3err.WrongSecret:
		return finding.Fail(check, fmt.Errorf("the secret key does not match the access key (%s)", code),
			"correct aws_secret_access_key in %s", where)
	case s3err.BadToken:
		return finding.Fail(check, fmt.Errorf("the session token is expired or invalid (%s)", code),
			"renew the temporary credentials in %s, or use keys that do not expire", where)
	case s3err.ClockSkew:
		return finding.Fail(check, fmt.Errorf("the server refuses the signature's time (%s)", code),
			"sync this machine's clock with NTP")
	}
	return nil
}

// credentialsWhere names where the keys came from, for a fix.
func credentialsWhere(c *config.ObjectStore) string {
	profile := c.Profile
	if profile == "" {
		profile = "default"
	}
	if c.CredentialsFile != "" {
		return fmt.Sprintf("profile [%s] of the credentials file (the Secret that the BSL's spec.credential names; here %s)", profile, c.CredentialsFile)
	}
	return "the credentials Velero's pod gets (the cloud-credentials Secret, AWS_* variables, IRSA or the instance role)"
}

// bucketProblem explains a failed bucket location request, signed for
// region.
func bucketProblem(ctx context.Context, c *config.ObjectStore, region string, client *s3.Client, err error) (string, error) {
	check := fmt.Sprintf("bucket %q exists in region %s", c.Bucket, region)
	code := s3err.Code(err)
	switch s3err.Of(err) {
	case s3err.NoSuchBucket:
		return "", finding.Fail(check, fmt.Errorf("no bucket %q on %s", c.Bucket, endpointURL(c, region).Redacted()), "%s", missingBucketFix(c.Bucket))
	case s3err.WrongRegion:
		if want := s3err.ExpectedRegion(err); want != "" {
			return "", finding.Fail(check, fmt.Errorf("the server is in region %s, the requests are signed for %s (%s)", want, region, code), "set region: %s in the BSL config", want)
		}
		return "", finding.Fail(check, fmt.Errorf("the server refuses region %s (%s: %s)", region, code, s3err.Message(err)), "set region in the BSL config to the bucket's region")
	case s3err.Denied:
		// s3:GetBucketLocation may simply not be granted: is the bucket there?
		rctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
		defer cancel()
		if _, herr := client.HeadBucket(rctx, &s3.HeadBucketInput{Bucket: aws.String(c.Bucket)}); herr == nil {
			return "it is there (its region was not compared: s3:GetBucketLocation is not granted)", nil
		}
		return "", finding.Fail(check, fmt.Errorf("access denied to the bucket (%s)", code),
			"grant s3:ListBucket and s3:GetBucketLocation on arn:aws:s3:::%s to the BSL's identity", c.Bucket)
	}
	return "", finding.Fail(check, translate("read location of bucket", c.Bucket, "", err), "")
}

// folder lists the BSL's folder as Velero's validation does every minute.
func (d *diagnosis) folder(ctx context.Context) bool {
	folder := folderOf(d.c.Prefix)
	return d.r.Check(fmt.Sprintf("list the BSL's folder %q (Velero's validation, every minute)", "/"+folder), func() (string, error) {
		rctx, cancel := context.WithTimeout(ctx, d.c.RequestTimeout)
		defer cancel()
		in := &s3.ListObjectsV2Input{Bucket: aws.String(d.c.Bucket), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1000)}
		if folder != "" {
			in.Prefix = aws.String(folder)
		}
		out, err := d.cl.ListObjectsV2(rctx, in)
		if err != nil {
			return "", denied(translate("list", d.c.Bucket, folder, err), "s3:ListBucket", "arn:aws:s3:::"+d.c.Bucket)
		}
		var names []string
		for _, p := range out.CommonPrefixes {
			names = append(names, strings.TrimPrefix(aws.ToString(p.Prefix), folder))
		}
		if len(names) == 0 {
			return "empty: no backups yet", nil
		}
		return "holds " + strings.Join(names, " "), nil
	})
}

// lock checks the bucket's versioning and Object Lock: against
// objectLockMode with Init's own check, else says what it found.
func (d *diagnosis) lock(ctx context.Context) bool {
	if d.c.ObjectLockMode != "" {
		return d.r.Check(lockCheck(d.c), func() (string, error) {
			_, err := d.s.checkLock(ctx, d.c, d.cl) // objectLockMode set: no default retention looked for
			return "versioning Enabled and Object Lock enabled", err
		})
	}
	rctx, cancel := context.WithTimeout(ctx, d.c.RequestTimeout)
	defer cancel()
	state := "versioning off"
	if v, err := d.cl.GetBucketVersioning(rctx, &s3.GetBucketVersioningInput{Bucket: aws.String(d.c.Bucket)}); err != nil {
		state = "versioning not read (" + s3err.Code(err) + ")"
	} else if v.Status != "" {
		state = "versioning " + string(v.Status)
	}
	if l, err := d.cl.GetObjectLockConfiguration(rctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(d.c.Bucket)}); err == nil &&
		l.ObjectLockConfiguration != nil && l.ObjectLockConfiguration.ObjectLockEnabled == "Enabled" {
		state += ", Object Lock enabled (objectLockMode is not set: backups are not locked unless the bucket has a default retention)"
	} else {
		state += ", no Object Lock"
	}
	d.r.Note("bucket versioning and Object Lock", state)
	return true
}

// init runs the store's own Init on the same config: what Velero does.
func (d *diagnosis) init(ctx context.Context) bool {
	return d.r.Check("plugin Init (what Velero runs)", func() (string, error) {
		if err := d.s.Init(d.raw); err != nil {
			return "", err
		}
		lock := "objectLockMode not set"
		if d.s.cfg.ObjectLockMode != "" {
			lock = fmt.Sprintf("bucket has versioning and Object Lock for objectLockMode %s", d.s.cfg.ObjectLockMode)
		}
		return lock, nil
	})
}

func checkCredentialsFile(c *config.ObjectStore) (string, error) {
	profile := c.Profile
	if profile == "" {
		profile = "default"
	}
	seen, err := awsconn.CheckCredentialsFile(c.CredentialsFile, profile)
	if err != nil {
		return "", finding.Fail("credentials file "+c.CredentialsFile, err,
			"edit the file (the Secret that the BSL's spec.credential names): under [%s] the keys are aws_access_key_id and aws_secret_access_key", profile)
	}
	return seen, nil
}
