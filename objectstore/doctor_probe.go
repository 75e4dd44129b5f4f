package objectstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/finding"
)

// probeFolder is where doctor writes, under the BSL's prefix; Velero
// lists only backups/, restores/, kopia/ and the like, never this.
const probeFolder = ".doctor/"

// signedURLTTL is how long the probe's signed URL lives.
const signedURLTTL = 5 * time.Minute

// probes writes, reads, lists, signs and deletes objects under
// <prefix>/.doctor/<run>/ through the store's own methods (Init done).
func (d *diagnosis) probes(ctx context.Context) {
	s, c := d.s, d.s.cfg
	run := make([]byte, 6)
	_, _ = rand.Read(run)
	dir := folderOf(c.Prefix) + probeFolder + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(run) + "/"
	single, multi := dir+"probe.json", dir+"probe-multipart.bin"
	body := []byte(`{"written-by":"velero-plugin-s3csi doctor","at":"` + time.Now().UTC().Format(time.RFC3339) + `"}`)
	var written []string
	defer d.cleanup(ctx, dir)

	if !d.r.Check("write a probe object (single PUT) "+single, func() (string, error) {
		err := s.PutObject(c.Bucket, single, bytes.NewReader(body))
		return fmt.Sprintf("%d bytes%s", len(body), checksumSeen(s.facts.checksum)), d.writeProblem(single, "s3:PutObject", err)
	}) {
		return
	}
	written = append(written, single)
	d.r.Check("read it back (GET)", func() (string, error) { return readBack(s, c.Bucket, single, body) })
	d.r.Check("list it (ListObjectsV2 under "+dir+")", func() (string, error) {
		keys, err := s.ListObjects(c.Bucket, dir)
		if err != nil {
			return "", denied(err, "s3:ListBucket", "arn:aws:s3:::"+c.Bucket)
		}
		if !slices.Contains(keys, single) {
			return "", fmt.Errorf("the listing of %s does not hold %s (it holds %d keys)", dir, single, len(keys))
		}
		return "listed", nil
	})
	d.signedURL(ctx, single, body)

	big := make([]byte, c.PartSize+4096) // two parts: one of multipartPartSize and 4 KiB
	_, _ = rand.Read(big)
	if d.r.Check("write a probe object in 2 parts (multipart upload) "+multi, func() (string, error) {
		err := s.PutObject(c.Bucket, multi, bytes.NewReader(big))
		return fmt.Sprintf("parts of %s and 4 KiB", config.ShowSize(c.PartSize)), d.writeProblem(multi, "s3:PutObject", err)
	}) {
		written = append(written, multi)
		d.r.Check("read the multipart object back", func() (string, error) { return readBack(s, c.Bucket, multi, big) })
	}
	d.r.Check("abort a multipart upload", func() (string, error) { return d.abortProbe(ctx, dir+"probe-aborted.bin") })
	d.r.Check("list multipart uploads (the stale-upload sweep)", func() (string, error) { return d.listUploads(ctx) })
	for _, key := range slices.Clone(written) {
		if d.r.Check("delete "+key, func() (string, error) { return "gone", d.deleteProbe(key) }) {
			written = slices.DeleteFunc(written, func(k string) bool { return k == key })
		}
	}
}

func checksumSeen(alg string) string {
	if alg == "" {
		return ", no checksum header (checksumAlgorithm none)"
	}
	return ", checksum " + alg + " accepted"
}

// writeProblem adds the fix to a failed probe write.
func (d *diagnosis) writeProblem(key, action string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrAccessDenied) {
		return denied(err, action, "arn:aws:s3:::"+d.c.Bucket+"/"+folderOf(d.c.Prefix)+"*")
	}
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "checksum") || strings.Contains(msg, "content-md5") || strings.Contains(msg, "notimplemented") {
		return finding.Fail("write "+key, err, "the server refuses the checksum header of checksumAlgorithm %q: set checksumAlgorithm to \"\" (none) or MD5, or one it accepts", d.s.facts.checksum)
	}
	return err
}

// denied adds "grant ACTION on RESOURCE" to an access-denied error.
func denied(err error, action, resource string) error {
	if err == nil || !errors.Is(err, ErrAccessDenied) {
		return err
	}
	return finding.WithFix(err, "grant %s on %s to the BSL's identity", action, resource)
}

func readBack(s *Store, bucket, key string, want []byte) (string, error) {
	rc, err := s.GetObject(bucket, key)
	if err != nil {
		return "", denied(err, "s3:GetObject", "arn:aws:s3:::"+bucket+"/"+key)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", err
	}
	if want := sha256.Sum256(want); !bytes.Equal(h.Sum(nil), want[:]) {
		return "", fmt.Errorf("read %d bytes that differ from the %d written", n, len(want))
	}
	return fmt.Sprintf("%d bytes, the same as written", n), nil
}

// signedURL fetches the probe through a URL signed as Velero signs the
// CLI's downloads, from where doctor runs.
func (d *diagnosis) signedURL(ctx context.Context, key string, want []byte) {
	c := d.s.cfg
	via := "s3Url (no publicUrl)"
	if c.PublicURL != "" {
		via = "publicUrl " + c.PublicURL
	}
	d.r.Check("signed URL through "+via+", fetched from this machine", func() (string, error) {
		u, err := d.s.CreateSignedURL(c.Bucket, key, signedURLTTL)
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		resp, err := d.hc.Do(req)
		fix := "publicUrl must be an address of the S3 server that the machines running the velero CLI reach (`velero backup logs` downloads through it); doctor tried from here"
		if err != nil {
			return "", finding.Fail("signed URL", fmt.Errorf("GET failed: %s", redactURL(err.Error(), u)), fix)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(io.LimitReader(resp.Body, int64(len(want))+1))
		if resp.StatusCode != http.StatusOK {
			return "", finding.Fail("signed URL", fmt.Errorf("GET answered %s", resp.Status), fix)
		}
		if err != nil || !bytes.Equal(got, want) {
			return "", fmt.Errorf("the signed URL gave %d bytes that differ from the probe's %d", len(got), len(want))
		}
		return "the probe's bytes came back (this is what `velero backup logs` does)", nil
	})
}

// redactURL keeps a signed URL's signature out of a message.
func redactURL(msg, signed string) string {
	base, _, _ := strings.Cut(signed, "?")
	return strings.ReplaceAll(msg, signed, base+"?<signature>")
}

// abortProbe starts a multipart upload, sends one part and aborts it, as
// the store does when an upload fails.
func (d *diagnosis) abortProbe(ctx context.Context, key string) (string, error) {
	c, s := d.s.cfg, d.s
	ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(c.Bucket), Key: aws.String(key)}
	s.sse.applyCreate(in)
	if alg := s.facts.checksum; flexible(alg) {
		in.ChecksumAlgorithm = types.ChecksumAlgorithm(alg)
	}
	up, err := s.s3.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", denied(translate("start multipart upload of", c.Bucket, key, err), "s3:PutObject", "arn:aws:s3:::"+c.Bucket+"/"+folderOf(c.Prefix)+"*")
	}
	part := []byte("doctor")
	pin := &s3.UploadPartInput{Bucket: aws.String(c.Bucket), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(part)}
	s.sse.applyPart(pin)
	sum(s.facts.checksum, part).applyPart(pin, &types.CompletedPart{})
	_, perr := s.s3.UploadPart(ctx, pin)
	_, err = s.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(c.Bucket), Key: aws.String(key), UploadId: up.UploadId})
	if err != nil {
		return "", denied(translate("abort multipart upload of", c.Bucket, key, err), "s3:AbortMultipartUpload", "arn:aws:s3:::"+c.Bucket+"/"+folderOf(c.Prefix)+"*")
	}
	if perr != nil {
		return "", translate("upload a part of", c.Bucket, key, perr)
	}
	return "started, one part sent, aborted", nil
}

// listUploads is the stale-upload sweep's request.
func (d *diagnosis) listUploads(ctx context.Context) (string, error) {
	c := d.s.cfg
	ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	out, err := d.s.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(c.Bucket), MaxUploads: aws.Int32(100)})
	if err != nil {
		err = translate("list multipart uploads of", c.Bucket, "", err)
		if errors.Is(err, ErrAccessDenied) {
			return "", finding.Fail("list multipart uploads", err,
				"grant s3:ListBucketMultipartUploads on arn:aws:s3:::%s, or the uploads of crashed backups stay (and are billed) until a lifecycle rule aborts them", c.Bucket)
		}
		return "", err
	}
	return fmt.Sprintf("allowed (%d in progress in the bucket's first page)", len(out.Uploads)), nil
}

// deleteProbe deletes a probe key as Velero deletes a backup's objects.
func (d *diagnosis) deleteProbe(key string) error {
	c := d.s.cfg
	if err := d.s.DeleteObject(c.Bucket, key); err != nil {
		return denied(err, "s3:DeleteObject", "arn:aws:s3:::"+c.Bucket+"/"+folderOf(c.Prefix)+"*")
	}
	exists, err := d.s.ObjectExists(c.Bucket, key)
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("%s is still there after its delete", key)
	}
	return nil
}

// cleanup removes what the probes left under dir: on a versioned bucket
// the versions and delete markers too, so a probe leaves nothing, except
// what Object Lock keeps; that, and any key a failed delete left, is said
// with its date. Each request has requestTimeout.
func (d *diagnosis) cleanup(ctx context.Context, dir string) {
	c, s := d.s.cfg, d.s
	var kept []string
	rctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	out, err := s.s3.ListObjectVersions(rctx, &s3.ListObjectVersionsInput{Bucket: aws.String(c.Bucket), Prefix: aws.String(dir)})
	cancel()
	if err == nil {
		type version struct{ key, id string }
		var all []version
		for _, v := range out.Versions {
			all = append(all, version{aws.ToString(v.Key), aws.ToString(v.VersionId)})
		}
		for _, m := range out.DeleteMarkers {
			all = append(all, version{aws.ToString(m.Key), aws.ToString(m.VersionId)})
		}
		for _, v := range all {
			if v.id == "" {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
			_, derr := s.s3.DeleteObject(rctx, &s3.DeleteObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(v.key), VersionId: aws.String(v.id)})
			cancel()
			if derr != nil && !isNotFound(derr) {
				kept = append(kept, d.keptUntil(ctx, v.key, v.id))
			}
		}
	}
	keys, lerr := s.ListObjects(c.Bucket, dir)
	for _, k := range keys {
		if !slices.ContainsFunc(kept, func(e string) bool { return strings.HasPrefix(e, k+" ") }) {
			kept = append(kept, k+" (its delete failed)")
		}
	}
	switch {
	case len(kept) > 0:
		d.r.Note("probe objects left behind", strings.Join(kept, "; "))
	case lerr != nil:
		d.r.Note("probe objects left behind", "unknown: listing "+dir+" failed: "+lerr.Error())
	default:
		d.r.Note("probe objects removed", "nothing is left under "+dir)
	}
}

// keptUntil says why a probe version stays: its Object Lock date.
func (d *diagnosis) keptUntil(ctx context.Context, key, id string) string {
	c := d.s.cfg
	in := &s3.HeadObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(key), VersionId: aws.String(id)}
	d.s.sse.applyHead(in)
	ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	h, err := d.s.s3.HeadObject(ctx, in)
	if err == nil && h.ObjectLockRetainUntilDate != nil {
		return fmt.Sprintf("%s version %s (Object Lock %s until %s)", key, id, h.ObjectLockMode, h.ObjectLockRetainUntilDate.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s version %s", key, id)
}
