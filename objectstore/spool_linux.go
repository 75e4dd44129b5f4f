package objectstore

import "syscall"

// freeSpace is the space an unprivileged writer may use in dir; known is
// false when the file system does not say.
func freeSpace(dir string) (free int64, known bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true //nolint:gosec // block counts fit
}
