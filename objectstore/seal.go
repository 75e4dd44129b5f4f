package objectstore

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"example.io/velero-plugin-s3csi/config"
)

// Client-side encryption: with encryptionRecipients set, the keys of
// encryptionScope are stored as age files (age-encryption.org/v1, X25519
// recipients), made as the body streams from Velero. The body check sees
// the plaintext before it is sealed; the parts, their checksums, the size
// check, Object Lock and the memory budget see the ciphertext, which is
// what S3 stores. Reading opens any object that starts with age's header
// and hands every other on as it is, so a BSL that turns encryption on
// still restores its older backups. The resume of a broken download works
// on the ciphertext, below the decryption.

// ageHeader starts every binary age file.
const ageHeader = "age-encryption.org/v1\n"

const (
	sealRead  = 64 << 10  // plaintext read from Velero per Read of a sealer
	plainRing = 256 << 10 // plaintext an encrypted upload's body check may lag behind
)

// ErrEncrypted says an object is an age file that the identities at hand
// (none, or the wrong ones) cannot open.
var ErrEncrypted = errors.New("the object is encrypted")

// ErrDecrypt says an age file failed its authentication: it is truncated,
// or a byte of it was altered. No plaintext of the failing chunk is given.
var ErrDecrypt = errors.New("age decryption failed")

// encrypts reports whether key is written encrypted: with recipients set,
// Velero's backup contents (<prefix>/backups/<name>/<name>.tar.gz), or
// with encryptionScope allGzip every .gz key.
func (s *Store) encrypts(key string) bool {
	c := s.cfg
	if !c.Encrypted() {
		return false
	}
	if c.EncryptionScope == config.ScopeAllGzip {
		return strings.HasSuffix(key, ".gz")
	}
	return backupContents(key)
}

// backupContents is true for Velero's backup tarball,
// [<prefix>/]backups/<name>/<name>.tar.gz (getBackupContentsKey in
// Velero's pkg/persistence/object_store_layout.go).
func backupContents(key string) bool {
	dir := path.Dir(key)
	return path.Base(key) == path.Base(dir)+".tar.gz" && path.Base(path.Dir(dir)) == "backups"
}

// sealer encrypts a body to age recipients as it is read. Each Read makes
// at most one read of Velero's stream, so the upload's stall timer, kicked
// before every Read, sees every wait for Velero; it returns what ciphertext
// age has made so far, which may be none yet (age seals 64 KiB chunks).
// It counts the plaintext, so progress lines show what Velero sent.
type sealer struct {
	body  io.Reader
	age   io.WriteCloser
	out   bytes.Buffer // ciphertext not yet read
	buf   []byte
	plain *plainPipe // the body check's copy of the plaintext; nil for none
	count func(int)
	done  bool // the body ended and age's last chunk is in out
	err   error
}

func newSealer(body io.Reader, recipients []age.Recipient, plain *plainPipe, count func(int)) (*sealer, error) {
	s := &sealer{body: body, buf: make([]byte, sealRead), plain: plain, count: count}
	w, err := age.Encrypt(&s.out, recipients...) // writes the header into out
	if err != nil {
		return nil, fmt.Errorf("start age encryption: %w", err)
	}
	s.age = w
	return s, nil
}

func (s *sealer) Read(p []byte) (int, error) {
	if s.out.Len() == 0 {
		if s.done {
			return 0, io.EOF
		}
		if s.err == nil {
			s.fill()
		}
		if s.out.Len() == 0 && s.err != nil {
			return 0, s.err
		}
	}
	n, _ := s.out.Read(p)
	return n, nil
}

// fill reads once from the body and seals what came.
func (s *sealer) fill() {
	n, err := s.body.Read(s.buf)
	if n > 0 {
		s.count(n)
		if s.plain != nil {
			s.plain.Write(s.buf[:n])
		}
		if _, werr := s.age.Write(s.buf[:n]); werr != nil {
			s.err = fmt.Errorf("age encryption: %w", werr)
			return
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		if cerr := s.age.Close(); cerr != nil {
			s.err = fmt.Errorf("age encryption: %w", cerr)
			return
		}
		s.done = true
	case err != nil:
		s.err = err // the body's own error: the upload fails with it
	}
}

// plainPipe hands an encrypted upload's plaintext to its body check
// through a fixed ring, so that reading and sealing go on while the check
// catches up on the other core; the writer waits only when the check is a
// whole ring behind. Once the check has its verdict (it stopped reading),
// writes are dropped.
type plainPipe struct {
	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte
	start, n int
	wclosed  bool // nothing more is written: Read ends at io.EOF
	rclosed  bool // the check stopped reading
}

func newPlainPipe(size int) *plainPipe {
	p := &plainPipe{buf: make([]byte, size)}
	p.cond.L = &p.mu
	return p
}

// Write copies b into the ring, waiting for room; it never fails.
func (p *plainPipe) Write(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 && !p.wclosed {
		for p.n == len(p.buf) && !p.rclosed {
			p.cond.Wait()
		}
		if p.rclosed {
			return
		}
		end := (p.start + p.n) % len(p.buf)
		k := min(len(b), len(p.buf)-p.n, len(p.buf)-end)
		copy(p.buf[end:end+k], b[:k])
		p.n += k
		b = b[k:]
		p.cond.Broadcast()
	}
}

func (p *plainPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n == 0 && !p.wclosed {
		p.cond.Wait()
	}
	if p.n == 0 {
		return 0, io.EOF
	}
	k := min(len(b), p.n, len(p.buf)-p.start)
	copy(b, p.buf[p.start:p.start+k])
	p.start = (p.start + k) % len(p.buf)
	p.n -= k
	p.cond.Broadcast()
	return k, nil
}

// closeWrite ends the plaintext: the check reads io.EOF after the rest.
func (p *plainPipe) closeWrite() {
	p.mu.Lock()
	p.wclosed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// closeRead says the check stopped reading: writers no longer wait.
func (p *plainPipe) closeRead() {
	p.mu.Lock()
	p.rclosed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// openBody reads the start of an object's body. One that begins with
// age's header is decrypted with ids as it is read; any other is handed on
// as it is. The reader returned counts what it hands out (the plaintext)
// and never returns (0, nil). source names the setting that supplies the
// identities, for the errors; the errors never quote the header, whose
// stanzas wrap the file key.
func openBody(body io.Reader, ids []age.Identity, source string, count func(int)) (io.Reader, bool, error) {
	head := make([]byte, len(ageHeader))
	n, err := io.ReadFull(body, head)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF): // shorter than the header
		return &counted{r: io.MultiReader(bytes.NewReader(head[:n]), body), count: count}, false, nil
	case err != nil:
		return nil, false, err
	case string(head) != ageHeader:
		return &counted{r: io.MultiReader(bytes.NewReader(head), body), count: count}, false, nil
	case len(ids) == 0:
		return nil, true, fmt.Errorf("%w with age (the BSL's encryptionRecipients) and this BSL has no identity to read it: "+
			"set encryptionIdentitySecret (secretName/key of a Secret in Velero's namespace holding the AGE-SECRET-KEY-1… file) "+
			"or encryptionIdentityFile on the BSL", ErrEncrypted)
	}
	rec := &readErrors{r: body}
	src := bufio.NewReaderSize(rec, 4096)
	header, err := readHeader(head, src)
	if err != nil {
		if rec.err != nil {
			return nil, true, rec.err
		}
		return nil, true, fmt.Errorf("%w: the age header %s (the object was altered)", ErrDecrypt, err)
	}
	fileKey, err := age.DecryptHeader(header, ids...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, true, fmt.Errorf("%w with age to other recipients: none of the %d identities of %s opens it; "+
				"give the identity of one of the public keys the backup was written with (age-keygen -y shows an identity's public key)",
				ErrEncrypted, len(ids), source)
		}
		return nil, true, fmt.Errorf("%w: the age header is malformed or fails its MAC (the object was altered)", ErrDecrypt)
	}
	plain, err := newPayload(fileKey, src)
	if err != nil {
		if rec.err != nil {
			return nil, true, rec.err
		}
		return nil, true, fmt.Errorf("%w: the object ends inside its age header: it is truncated", ErrDecrypt)
	}
	return &counted{r: &unsealed{r: plain, rec: rec}, count: count}, true, nil
}

// maxHeader bounds an age header: a line per recipient stanza and two
// of body; the plugin writes a few hundred bytes.
const maxHeader = 64 << 10

// readHeader reads the rest of the age header that starts with head: up
// to and with its MAC line ("--- …"), which is the first line that starts
// so (the stanzas' bodies are base64, without '-' or ' ').
func readHeader(head []byte, src *bufio.Reader) ([]byte, error) {
	header := bytes.Clone(head)
	for {
		line, err := src.ReadSlice('\n')
		header = append(header, line...)
		switch {
		case len(header) > maxHeader:
			return nil, fmt.Errorf("is longer than %d bytes", maxHeader)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return nil, errors.New("is cut short")
		case bytes.HasPrefix(line, []byte("--- ")):
			return header, nil
		}
	}
}

// readErrors remembers the first read error of the ciphertext other than
// io.EOF: the download's own failure, which wins over what age makes of it.
type readErrors struct {
	r   io.Reader
	err error
}

func (e *readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}

// unsealed is the plaintext of an age file; it says where a failing one
// failed, counted in plaintext bytes.
type unsealed struct {
	r   io.Reader
	rec *readErrors
	off int64
	err error
}

func (u *unsealed) Read(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	n, err := u.r.Read(p)
	u.off += int64(n)
	switch {
	case err == nil || errors.Is(err, io.EOF):
		return n, err
	case u.rec.err != nil:
		u.err = u.rec.err
	case errors.Is(err, io.ErrUnexpectedEOF):
		u.err = fmt.Errorf("%w: the object ends before age's last chunk, after %d bytes of plaintext: it is truncated", ErrDecrypt, u.off)
	default:
		u.err = fmt.Errorf("%w: a chunk after %d bytes of plaintext fails its authentication: the object is truncated or was altered", ErrDecrypt, u.off)
	}
	return n, u.err
}

// counted counts what it hands out and never returns (0, nil).
type counted struct {
	r     io.Reader
	count func(int)
}

func (c *counted) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := c.r.Read(p)
		c.count(n)
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// The payload of an age file (age-encryption.org/v1, the STREAM
// construction): a 16-byte nonce, then chunks of 64 KiB of plaintext
// sealed with ChaCha20-Poly1305 under a key derived from the file key,
// each nonce an 11-byte big-endian counter and a last-chunk flag. age's
// library writes it (sealer) and opens the header (age.DecryptHeader);
// payload reads the chunks the way the library's reader does, but into
// two buffers it keeps: the library's allocates 64 KiB per chunk, which
// cost a download a third of its speed and 19 MiB of RSS (make bench).
// The tests hold it to the library on every size, cut and flipped byte.
const (
	payloadNonce = 16
	plainChunk   = 64 << 10
	sealedChunk  = plainChunk + chacha20poly1305.Overhead
)

type payload struct {
	src   io.Reader
	aead  cipher.AEAD
	nonce [chacha20poly1305.NonceSize]byte
	in    []byte // one sealed chunk
	out   []byte // its plaintext
	plain []byte // what of out is not yet read
	done  bool   // the last chunk was opened and nothing follows it
	err   error
}

// errChunk is a chunk that fails its authentication.
var errChunk = errors.New("chunk authentication failed")

func newPayload(fileKey []byte, src io.Reader) (*payload, error) {
	nonce := make([]byte, payloadNonce)
	if _, err := io.ReadFull(src, nonce); err != nil {
		return nil, err
	}
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, fileKey, nonce, []byte("payload")), key); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, err
	}
	return &payload{src: src, aead: aead, in: make([]byte, sealedChunk), out: make([]byte, 0, plainChunk)}, nil
}

func (p *payload) Read(b []byte) (int, error) {
	for len(p.plain) == 0 {
		switch {
		case p.err != nil:
			return 0, p.err
		case p.done:
			return 0, io.EOF
		}
		p.err = p.next()
	}
	n := copy(b, p.plain)
	p.plain = p.plain[n:]
	return n, nil
}

// next opens the next chunk. A short chunk is the last; a full one is
// the last when it opens only with the last-chunk flag, and then nothing
// may follow it. No chunk at all where one is due is a cut object.
func (p *payload) next() error {
	first := p.nonce == [chacha20poly1305.NonceSize]byte{}
	n, err := io.ReadFull(p.src, p.in)
	last := false
	switch {
	case errors.Is(err, io.EOF):
		return io.ErrUnexpectedEOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		if n == chacha20poly1305.Overhead && !first {
			return errChunk // an empty last chunk is only the empty file's
		}
		last = true
	case err != nil:
		return err
	}
	if last {
		p.nonce[len(p.nonce)-1] = 1
	}
	out, err := p.aead.Open(p.out[:0], p.nonce[:], p.in[:n], nil)
	if err != nil && !last {
		last = true
		p.nonce[len(p.nonce)-1] = 1
		out, err = p.aead.Open(p.out[:0], p.nonce[:], p.in[:n], nil)
	}
	if err != nil {
		return errChunk
	}
	for i := len(p.nonce) - 2; i >= 0; i-- { // the counter; 88 bits never wrap
		p.nonce[i]++
		if p.nonce[i] != 0 {
			break
		}
	}
	p.plain = out
	if last {
		var one [1]byte
		switch _, err := io.ReadFull(p.src, one[:]); {
		case err == nil:
			return errors.New("data after the last chunk")
		case !errors.Is(err, io.EOF):
			return err
		}
		p.done = true
	}
	return nil
}
