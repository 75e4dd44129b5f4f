// Command compat proves the plugin on every Velero release in
// hack/compat/v*: it builds the plugin, starts MinIO and the GCE PD CSI
// driver on 127.0.0.1, builds each release's host module (its own go.mod:
// that release's pkg/plugin/clientmgmt) and runs it on the built binary,
// then prints the table release × ObjectStore × VolumeSnapshotter ×
// PluginLister. It runs the hosts a second time on a plugin built with a
// broken handshake (-tags s3csi_broken_handshake), whose cells must all
// fail, so that a green table cannot be vacuous. `make compat` runs it;
// it exits 1 on any red cell or a green broken one. COMPAT_ONLY=v1.14,v1.18
// runs some releases only.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

func main() {
	testenv.NoAmbientKubernetes() // the plugins read no ConfigMap of a cluster this machine can reach
	s := &testenv.Script{}
	defer s.Close()
	start := time.Now()
	root := testenv.RepoRoot()
	rels, err := releases(filepath.Join(root, "hack", "compat"))
	if err != nil {
		s.Fatal(err)
	}
	if only := os.Getenv("COMPAT_ONLY"); only != "" {
		names := strings.Split(only, ",")
		for _, n := range names {
			if !slices.ContainsFunc(rels, func(r release) bool { return r.Minor == n }) {
				s.Fatalf("COMPAT_ONLY names %q, which is no release under hack/compat", n)
			}
		}
		rels = slices.DeleteFunc(rels, func(r release) bool { return !slices.Contains(names, r.Minor) })
	}
	if len(rels) == 0 {
		s.Fatalf("no Velero release to run (hack/compat/v*/go.mod; COMPAT_ONLY=%q)", os.Getenv("COMPAT_ONLY"))
	}
	work, err := testenv.ProcessDir("s3csi-compat-")
	if err != nil {
		s.Fatal(err)
	}
	s.Cleanup(func() { os.RemoveAll(work) })

	step := func(msg string) { fmt.Printf("[%5.1fs] %s\n", time.Since(start).Seconds(), msg) }
	step("build the plugin, and once more with a broken handshake (-tags s3csi_broken_handshake)")
	pluginDir := testenv.PluginDir(s)
	brokenDir := filepath.Join(work, "broken-plugins")
	must(s, os.Mkdir(brokenDir, 0o700))
	must(s, goBuild(root, filepath.Join(brokenDir, "velero-plugin-s3csi"), "-tags", "s3csi_broken_handshake"))
	for _, r := range rels {
		t := time.Now()
		must(s, buildHost(r, filepath.Join(work, "host-"+r.Minor)))
		step(fmt.Sprintf("built the %s host (Velero %s's clientmgmt, hack/compat/%s) in %.0fs", r.Minor, r.Velero, r.Minor, time.Since(t).Seconds()))
	}

	step("start MinIO and the GCE PD CSI driver on 127.0.0.1 (built by `bash hack/tool.sh minio csidriver`)")
	srv := testenv.StartMinIO(s, testenv.MinIOOptions{})
	creds := srv.CredentialsFile(s)
	d := testenv.StartGCEPDDriver(s)

	args := func(dir string) hostArgs {
		return hostArgs{PluginDir: dir, S3URL: srv.Endpoint, Bucket: srv.MakeBucket(s), CredentialsFile: creds,
			CSIDriver: d.Name, CSIEndpoint: d.Endpoint, VolumeID: d.CreateVolume(s, fmt.Sprintf("src-%d", time.Now().UnixNano()), 20<<30).GetVolumeId()}
	}
	var rows, broken []row
	for _, r := range rels {
		t := time.Now()
		res := runHost(filepath.Join(work, "host-"+r.Minor), work, args(pluginDir))
		checkSnapshotGone(&res, d)
		if res.Velero != r.Velero {
			res.PluginLister.fail("the host links Velero %q, its go.mod requires %s", res.Velero, r.Velero)
		}
		rows = append(rows, row{rel: r, res: res})
		step(fmt.Sprintf("%s: ran the cases in %.0fs", r.Velero, time.Since(t).Seconds()))
	}
	for _, r := range rels {
		broken = append(broken, row{rel: r, res: runHost(filepath.Join(work, "host-"+r.Minor), work, args(brokenDir))})
	}
	step("ran every host on the broken-handshake build")

	failed := printTable(os.Stdout, rows, broken)
	fmt.Printf("\n%d releases in %.0fs\n", len(rels), time.Since(start).Seconds())
	if failed {
		s.Close()
		os.Exit(1)
	}
}

// checkSnapshotGone asks the driver itself that the snapshot the cases
// made and deleted is gone.
func checkSnapshotGone(res *result, d *testenv.CSIDriver) {
	if res.SnapshotID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := d.Control.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: res.SnapshotID})
	if err != nil {
		res.VolumeSnapshotter.fail("list snapshot %s on the driver: %v", res.SnapshotID, err)
		return
	}
	for _, e := range resp.GetEntries() {
		if e.GetSnapshot().GetSnapshotId() == res.SnapshotID {
			res.VolumeSnapshotter.fail("the driver still has snapshot %s after DeleteSnapshot", res.SnapshotID)
		}
	}
}

// goBuild builds the plugin as testenv.PluginDir does, with extra flags.
func goBuild(root, out string, extra ...string) error {
	cmd := exec.Command("go", append(append([]string{"build", "-trimpath", "-buildvcs=false"}, extra...), "-o", out, ".")...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOAMD64=v1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %v of the plugin: %v\n%s", extra, err, b)
	}
	return nil
}

func must(s *testenv.Script, err error) {
	if err != nil {
		s.Fatal(err)
	}
}
