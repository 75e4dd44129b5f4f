package minisig

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// commentVersion starts every trusted comment this package writes.
const commentVersion = "s3csi-v1"

// Comment is what a signature's trusted comment says of the object:
// `s3csi-v1 key=<key> size=<bytes> time=<RFC 3339, UTC>`. The key is the
// object's key relative to the location's prefix, with '%', spaces,
// control and non-ASCII bytes written %XX, so the line is one line of
// printable ASCII.
type Comment struct {
	Key  string
	Size int64
	Time time.Time
}

func (c Comment) String() string {
	return fmt.Sprintf("%s key=%s size=%d time=%s", commentVersion, escapeKey(c.Key), c.Size, c.Time.UTC().Format(time.RFC3339))
}

// ParseComment reads a trusted comment as String writes it, and nothing
// else: the fields in that order, canonical, each once. Errors never
// quote the input.
func ParseComment(s string) (Comment, error) {
	f := strings.Split(s, " ")
	if len(f) != 4 || f[0] != commentVersion {
		return Comment{}, errors.New("is not `" + commentVersion + " key=… size=… time=…`")
	}
	key, ok1 := strings.CutPrefix(f[1], "key=")
	size, ok2 := strings.CutPrefix(f[2], "size=")
	at, ok3 := strings.CutPrefix(f[3], "time=")
	if !ok1 || !ok2 || !ok3 {
		return Comment{}, errors.New("does not have key=, size= and time=, in that order")
	}
	var c Comment
	var err error
	if c.Key, err = unescapeKey(key); err != nil {
		return Comment{}, err
	}
	if c.Size, err = strconv.ParseInt(size, 10, 64); err != nil || c.Size < 0 || strconv.FormatInt(c.Size, 10) != size {
		return Comment{}, errors.New("has a size that is not a decimal byte count")
	}
	if c.Time, err = time.Parse(time.RFC3339, at); err != nil || c.Time.UTC().Format(time.RFC3339) != at {
		return Comment{}, errors.New("has a time that is not RFC 3339 in UTC to the second")
	}
	return c, nil
}

func plainByte(b byte) bool { return b > ' ' && b < 0x7f && b != '%' }

func escapeKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if plainByte(k[i]) {
			b.WriteByte(k[i])
		} else {
			fmt.Fprintf(&b, "%%%02X", k[i])
		}
	}
	return b.String()
}

// unescapeKey undoes escapeKey, and takes only what it writes.
func unescapeKey(s string) (string, error) {
	bad := errors.New("has a key that is not escaped as this plugin escapes keys")
	if s == "" {
		return "", errors.New("has an empty key")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", bad
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", bad
		}
		b.WriteByte(byte(v))
		i += 2
	}
	k := b.String()
	if escapeKey(k) != s {
		return "", bad
	}
	return k, nil
}
