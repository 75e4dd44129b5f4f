// Package install is the init container's whole job: copy the running
// plugin binary into the folder Velero's server reads plugins from.
package install

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DefaultTarget is the emptyDir the init container mounts; the velero
// container sees it as /plugins.
const DefaultTarget = "/target"

// Run parses the install sub-command's flags and copies the binary.
func Run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("install", flag.ContinueOnError)
	target := fs.String("target", DefaultTarget, "folder to copy the plugin binary into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil && filepath.IsAbs(os.Args[0]) {
		// No /proc (a bare chroot): the entrypoint's absolute path serves.
		self, err = os.Args[0], nil
	}
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	dst, err := Copy(self, *target)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "installed %s\n", dst)
	return nil
}

// Copy puts src into dir under its own name atomically: it writes a
// temporary file in dir, syncs it, makes it executable and renames it, so
// Velero never sees a half-copied plugin. It returns the final path.
func Copy(src, dir string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", src, err)
	}
	defer in.Close()
	dst := filepath.Join(dir, filepath.Base(src))
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(src)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("install into %s: %w", dir, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return "", fmt.Errorf("copy to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		return "", fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("rename to %s: %w", dst, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil { // make the rename durable
		_ = d.Sync()
		d.Close()
	}
	return dst, nil
}
