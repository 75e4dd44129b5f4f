package objectstore

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"example.io/velero-plugin-s3csi/config"
)

// A part larger than memoryBudget is spooled: written to a file in
// spoolDir as it is read from Velero, sent from that file (a retry reads
// it again), and closed as soon as it is stored. The file is unlinked the
// moment it is created, so it has no name another process could open, and
// closing it, or the death of the process, gives its space back: it never
// outlives its upload.

// spoolReserved counts the bytes of spool files being written now, across
// the process; a free-space check counts them as taken.
var spoolReserved atomic.Int64

// spoolFile is one part's file; release gives its space back.
type spoolFile struct {
	*os.File
	reserved int64 // of spoolReserved, until the part is written
}

// newSpoolFile makes room for a part of up to size bytes in dir: it
// checks the free space first and fails with the folder, the bytes
// needed and the settings that fix it.
func newSpoolFile(dir string, num int, size int64) (*spoolFile, error) {
	others := spoolReserved.Add(size) - size
	free, known := freeSpace(dir)
	if known && free-others < size {
		spoolReserved.Add(-size)
		return nil, fmt.Errorf("spool part %d (%s, larger than memoryBudget) to spoolDir %s: %d bytes needed, %d free (%d more promised to parts being spooled): "+
			"give spoolDir more room (for Velero's /scratch, its emptyDir's sizeLimit), set spoolDir to a larger folder, or raise memoryBudget to %s to keep such parts in memory",
			num, config.ShowSize(size), dir, size, max(free-others, 0), others, config.ShowSize(size))
	}
	f, err := os.CreateTemp(dir, ".s3compat-part-*") // mode 0600
	if err == nil {
		err = os.Remove(f.Name())
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		spoolReserved.Add(-size)
		return nil, fmt.Errorf("spool part %d to spoolDir %s: %w", num, dir, err)
	}
	return &spoolFile{File: f, reserved: size}, nil
}

// written ends the reservation: the bytes are on disk, where a free-space
// check sees them.
func (f *spoolFile) written() {
	spoolReserved.Add(-f.reserved)
	f.reserved = 0
}

// release closes the file, which frees its space.
func (f *spoolFile) release() {
	f.written()
	f.Close()
}

// checkSpoolDir is the Init check of the spool folder: a folder where a
// file can be created.
func checkSpoolDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return errors.New("is not a folder")
	}
	f, err := os.CreateTemp(dir, ".s3compat-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// spoolWarned holds the default spool folders already warned about.
var spoolWarned sync.Map

// checkSpool checks the spool folder at Init. An unusable spoolDir that
// was set fails Init; the default one only warns, once per process: most
// objects never need it (only parts larger than memoryBudget do).
func (s *Store) checkSpool(c *config.ObjectStore) error {
	dir := c.SpoolPath()
	err := checkSpoolDir(dir)
	s.spoolOK = err == nil
	if err == nil {
		return nil
	}
	if from, set := c.Origin["spoolDir"]; set && c.SpoolDir != "" {
		return fmt.Errorf("%s: invalid value for %q in %s: %q cannot hold spooled parts: %v", Name, "spoolDir", from, dir, err)
	}
	if _, seen := spoolWarned.LoadOrStore(dir, true); !seen {
		s.log.WithError(err).WithField("spoolDir", dir).Warn("the OS temp dir cannot hold spooled parts; an upload whose parts outgrow memoryBudget will fail: set spoolDir to a writable folder (in Velero's pod: /scratch)")
	}
	return nil
}
