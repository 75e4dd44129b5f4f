package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PluginPID is the pid of this process's child running the named binary
// (a plugin that Velero's host started), or 0.
func PluginPID(name string) int {
	self := strconv.Itoa(os.Getpid())
	procs, _ := filepath.Glob("/proc/[0-9]*/status")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "\nPPid:\t"+self+"\n") {
			continue
		}
		exe, _ := os.Readlink(filepath.Join(filepath.Dir(p), "exe"))
		if strings.Contains(filepath.Base(exe), name) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	return 0
}

// PeakRSS is the most resident memory (VmHWM) process pid has used, in
// bytes; 0 when it is gone.
func PeakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
