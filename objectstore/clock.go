package objectstore

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/finding"
)

// Clock skew limits: S3 refuses a signature more than 15 minutes off
// (RequestTimeTooSkewed); past maxSkew a backup is near that edge.
const (
	maxSkew    = 5 * time.Minute
	noticeSkew = 30 * time.Second
)

// checkClock compares this machine's clock with the server's Date header
// on an unsigned request (any answer carries one), within requestTimeout.
func checkClock(ctx context.Context, c *config.ObjectStore, hc interface {
	Do(*http.Request) (*http.Response, error)
}, u *url.URL) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return "", err
	}
	before := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("HEAD %s: %w", u.Redacted(), err)
	}
	resp.Body.Close()
	after := time.Now()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return "", fmt.Errorf("the server's answer has no Date header to compare (%q)", resp.Header.Get("Date"))
	}
	local := before.Add(after.Sub(before) / 2)
	skew := local.Sub(date).Truncate(time.Second)
	switch abs := max(skew, -skew); {
	case abs > maxSkew:
		side := "ahead of"
		if skew < 0 {
			side = "behind"
		}
		return "", finding.Fail("clock against the server's", fmt.Errorf("this machine's clock is %s %s the server's (server Date: %s); S3 refuses signatures more than 15 minutes off (RequestTimeTooSkewed)",
			abs, side, date.UTC().Format(time.RFC3339)), "sync the clocks of this machine (the Velero node) and the S3 server with NTP (`timedatectl set-ntp true`, chrony)")
	case abs > noticeSkew:
		return fmt.Sprintf("%s off the server's: within S3's 15 minutes, but worth an NTP sync", abs), nil
	}
	return fmt.Sprintf("within %s of the server's", noticeSkew), nil
}
