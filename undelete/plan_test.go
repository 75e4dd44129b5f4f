package undelete

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const dir = "cluster-a/backups/b1/"

// ver is a real version; at is seconds after t0.
func ver(key, id string, at int, latest bool) Version {
	return Version{Key: dir + key, VersionID: id, IsLatest: latest, Size: 10, LastModified: t0.Add(time.Duration(at) * time.Second)}
}

func marker(key, id string, at int, latest bool) Version {
	return Version{Key: dir + key, VersionID: id, IsLatest: latest, DeleteMarker: true, LastModified: t0.Add(time.Duration(at) * time.Second)}
}

// act is the action of removing marker id of key, restoring version rid.
type act struct{ key, marker, restores string }

func TestMakePlan(t *testing.T) {
	target := Target{Bucket: "bk", Prefix: "cluster-a", Backup: "b1"}
	tests := []struct {
		name     string
		versions []Version
		want     []act // in order
		restored int
		present  int
		err      error
	}{
		{
			name: "deleted backup: one marker over each key, metadata last",
			versions: []Version{
				ver("b1.tar.gz", "t1", 1, false), marker("b1.tar.gz", "mt", 100, true),
				ver("velero-backup.json", "v2", 2, false), ver("velero-backup.json", "v1", 1, false), marker("velero-backup.json", "mv", 100, true),
				ver("b1-logs.gz", "l1", 1, false), marker("b1-logs.gz", "ml", 100, true),
			},
			want:     []act{{"b1-logs.gz", "ml", "l1"}, {"b1.tar.gz", "mt", "t1"}, {"velero-backup.json", "mv", "v2"}},
			restored: 3,
		},
		{
			name: "versions listed oldest first: the newest by time is restored",
			versions: []Version{
				ver("velero-backup.json", "v1", 1, false), ver("velero-backup.json", "v2", 2, false), marker("velero-backup.json", "mv", 100, true),
			},
			want:     []act{{"velero-backup.json", "mv", "v2"}},
			restored: 1,
		},
		{
			name: "two markers over the newest version, an older marker stays",
			versions: []Version{
				ver("velero-backup.json", "v2", 50, false), ver("velero-backup.json", "v1", 1, false),
				marker("velero-backup.json", "m3", 101, true), marker("velero-backup.json", "m2", 100, false), marker("velero-backup.json", "m1", 20, false),
			},
			want:     []act{{"velero-backup.json", "m3", "v2"}, {"velero-backup.json", "m2", "v2"}},
			restored: 1,
		},
		{
			name: "a marker in the same second as the version is removed",
			versions: []Version{
				ver("velero-backup.json", "v1", 5, false), marker("velero-backup.json", "m1", 5, true),
			},
			want:     []act{{"velero-backup.json", "m1", "v1"}},
			restored: 1,
		},
		{
			name: "partly deleted: present keys are skipped",
			versions: []Version{
				ver("velero-backup.json", "v1", 1, false), marker("velero-backup.json", "mv", 100, true),
				ver("b1.tar.gz", "t2", 200, true), marker("b1.tar.gz", "mt", 100, false), ver("b1.tar.gz", "t1", 1, false),
			},
			want:     []act{{"velero-backup.json", "mv", "v1"}},
			restored: 1, present: 1,
		},
		{
			name: "nothing deleted: an empty plan",
			versions: []Version{
				ver("velero-backup.json", "v2", 2, true), ver("velero-backup.json", "v1", 1, false), ver("b1.tar.gz", "t1", 1, true),
			},
			present: 2,
		},
		{
			name:     "nothing listed",
			versions: nil,
			err:      ErrNoVersions,
		},
		{
			name: "a key with only delete markers",
			versions: []Version{
				ver("velero-backup.json", "v1", 1, false), marker("velero-backup.json", "mv", 100, true),
				marker("b1.tar.gz", "mt", 100, true),
			},
			err: ErrVersionsGone,
		},
		{
			name: "metadata with only delete markers",
			versions: []Version{
				marker("velero-backup.json", "mv", 100, true), ver("b1.tar.gz", "t1", 1, false), marker("b1.tar.gz", "mt", 100, true),
			},
			err: ErrVersionsGone,
		},
		{
			name: "no metadata at all",
			versions: []Version{
				ver("b1.tar.gz", "t1", 1, false), marker("b1.tar.gz", "mt", 100, true),
			},
			err: ErrNoMetadata,
		},
		{
			name: "no entry marked latest",
			versions: []Version{
				ver("velero-backup.json", "v1", 1, false), marker("velero-backup.json", "mv", 100, false),
			},
			err: ErrNoLatest,
		},
		{
			name: "two entries marked latest",
			versions: []Version{
				ver("velero-backup.json", "v1", 1, true), marker("velero-backup.json", "mv", 100, true),
			},
			err: ErrNoLatest,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := MakePlan(target, tc.versions)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Empty(t, plan.Actions)
				return
			}
			require.NoError(t, err)
			var got []act
			for _, a := range plan.Actions {
				got = append(got, act{a.Key[len(dir):], a.MarkerID, a.Restores.VersionID})
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.restored, plan.Restored, "restored")
			assert.Equal(t, tc.present, plan.Present, "present")
		})
	}
}

func TestRefusalMessages(t *testing.T) {
	_, err := MakePlan(Target{Bucket: "bk", Prefix: "cluster-a", Backup: "nope"}, nil)
	assert.EqualError(t, err, "no versions of backup nope under s3://bk/cluster-a/backups/nope/")
	_, err = MakePlan(Target{Bucket: "bk", Backup: "nope"}, nil)
	assert.EqualError(t, err, "no versions of backup nope under s3://bk/backups/nope/")
	_, err = MakePlan(Target{Bucket: "bk", Prefix: "cluster-a", Backup: "b1"}, []Version{marker("b1.tar.gz", "m", 1, true), ver("velero-backup.json", "v", 1, true)})
	assert.EqualError(t, err, "the object's versions are gone: only delete markers are left of s3://bk/cluster-a/backups/b1/b1.tar.gz")
}

func TestTranslate(t *testing.T) {
	apiErr := func(code string, status int) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "DeleteObject", Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err: &smithy.GenericAPIError{Code: code, Message: "m"}}}}
	}
	tests := []struct {
		name string
		err  error
		want error
		says string
	}{
		{"access denied", apiErr("AccessDenied", 403), ErrAccessDenied, "the credentials need s3:DeleteObjectVersion (on MinIO also s3:DeleteObject) on bucket bk"},
		{"bare 403", apiErr("", 403), ErrAccessDenied, "s3:DeleteObjectVersion"},
		{"unknown key", apiErr("InvalidAccessKeyId", 403), ErrCredentials, "--credentials-file"},
		{"bad secret", apiErr("SignatureDoesNotMatch", 403), ErrCredentials, "--profile"},
		{"no bucket", apiErr("NoSuchBucket", 404), ErrNoSuchBucket, "no such bucket bk"},
		{"certificate", fmt.Errorf("dial: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), ErrTLS, "--ca-cert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := translate(tc.err, "bk", permDelete)
			assert.ErrorIs(t, err, tc.want)
			assert.ErrorIs(t, err, tc.err, "the cause is kept")
			assert.Contains(t, err.Error(), tc.says)
		})
	}
	other := errors.New("boom")
	assert.Same(t, other, translate(other, "bk", permList), "other errors pass as they are")
	assert.NoError(t, translate(nil, "bk", permList))
}
