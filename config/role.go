package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// DefaultRoleSessionName names the STS session of roleArn when
// roleSessionName is not set; CloudTrail shows it in the assumed-role ARN.
const DefaultRoleSessionName = "velero-plugin-s3csi"

var (
	// roleARN is an IAM role's ARN: arn:aws:iam::123456789012:role/path/name
	// on AWS (any partition), arn:minio:iam:::role/name on MinIO, which
	// leaves region and account empty.
	roleARN = regexp.MustCompile(`^arn:[a-z][a-z0-9-]*:iam:[a-z0-9-]*:([0-9]{12})?:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	// sessionName and externalID are STS's own patterns (AssumeRole's
	// RoleSessionName and ExternalId).
	sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalID  = regexp.MustCompile(`^[\w+=,.@:/-]+$`) // and 2 to 1224 long
)

func setRoleARN(o *ObjectStore, v string) error {
	v = strings.TrimSpace(v)
	if v != "" && !roleARN.MatchString(v) {
		return fmt.Errorf("is not the ARN of an IAM role (arn:aws:iam::<12-digit account>:role/<name>)")
	}
	o.RoleARN = v
	return nil
}

func setRoleSessionName(o *ObjectStore, v string) error {
	v = strings.TrimSpace(v)
	if v != "" && !sessionName.MatchString(v) {
		return fmt.Errorf("is not an STS session name: 2 to 64 of letters, digits and _+=,.@-")
	}
	o.RoleSessionName = v
	return nil
}

func setExternalID(o *ObjectStore, v string) error {
	v = strings.TrimSpace(v)
	if v != "" && (len(v) < 2 || len(v) > 1224 || !externalID.MatchString(v)) {
		return fmt.Errorf("is not an STS external id: 2 to 1224 of letters, digits and _+=,.@:/-")
	}
	o.ExternalID = v
	return nil
}

// finishRole checks that the keys that shape the role's session come
// with roleArn, and names the session when roleSessionName is not set.
func (o *ObjectStore) finishRole() error {
	if o.RoleARN == "" {
		for _, k := range []string{"roleSessionName", "externalId", "stsUrl"} {
			if _, set := o.Origin[k]; set {
				return fmt.Errorf("%s is set in %s but roleArn is not: it applies only to the role the plugin assumes; set roleArn or remove %s", k, o.Origin[k], k)
			}
		}
		return nil
	}
	if o.RoleSessionName == "" {
		o.RoleSessionName = DefaultRoleSessionName
	}
	return nil
}

// STSEndpoint is where the role is assumed: stsUrl, else s3Url (MinIO and
// other S3-compatible servers serve STS on their S3 endpoint), else ""
// (the SDK's regional STS endpoint on AWS). An s3Url on AWS itself
// (*.amazonaws.com, as file-system backups want it set) serves no STS, so
// it gives "" too.
func (o *ObjectStore) STSEndpoint() string {
	if o.STSURL != "" {
		return o.STSURL
	}
	if u, err := url.Parse(o.S3URL); err == nil && isAWSHost(u.Hostname()) {
		return ""
	}
	return o.S3URL
}

func isAWSHost(host string) bool {
	host = strings.ToLower(host)
	return strings.HasSuffix(host, ".amazonaws.com") || strings.HasSuffix(host, ".amazonaws.com.cn")
}

// StorageClasses are the S3 storage classes storageClass takes.
var StorageClasses = []string{"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
	"GLACIER_IR", "EXPRESS_ONEZONE", "OUTPOSTS", "SNOW", "FSX_OPENZFS", "FSX_ONTAP"}

// setStorageClass takes an S3 storage class for the backup tarball. The
// archive classes are refused: an object in GLACIER or DEEP_ARCHIVE must
// be restored (RestoreObject, hours) before a GET returns it, so Velero's
// restore, which GETs the tarball at once, would fail. See
// vmware-tanzu/velero#1164 and velero-plugin-for-aws#14.
func setStorageClass(o *ObjectStore, v string) error {
	v = strings.ToUpper(strings.TrimSpace(v))
	switch {
	case v == "":
	case v == "GLACIER" || v == "DEEP_ARCHIVE":
		return fmt.Errorf("is an archive class: S3 answers a GET of such an object only after a restore request that takes hours, so a Velero restore would fail; "+
			"use GLACIER_IR (instant retrieval) or a lifecycle rule, or one of %s", strings.Join(StorageClasses, ", "))
	case !slices.Contains(StorageClasses, v):
		return fmt.Errorf("is not an S3 storage class: use one of %s", strings.Join(StorageClasses, ", "))
	}
	o.StorageClass = v
	return nil
}
