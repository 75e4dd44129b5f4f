package testenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a local control plane: etcd and kube-apiserver on 127.0.0.1,
// no nodes, no controller manager.
type Cluster struct {
	Kubeconfig string
	Client     kubernetes.Interface
	URL        string
}

// StartCluster starts etcd (Debian's etcd-server) and kube-apiserver
// (hack/kube) and stops them when the test ends.
func StartCluster(t T) *Cluster {
	t.Helper()
	etcd := Tool(t, "etcd")
	apiserver := Tool(t, "kube")
	dir := t.TempDir()

	clientPort, peerPort := FreePort(t), FreePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	startProcess(t, "etcd", etcd, []string{
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peerPort),
	}, []string{"ETCD_UNSUPPORTED_ARCH=" + "amd64"}, dir)

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	saKey := filepath.Join(dir, "sa.key")
	writeFile(t, saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	tokenBytes := make([]byte, 16)
	_, _ = rand.Read(tokenBytes)
	token := hex.EncodeToString(tokenBytes)
	writeFile(t, filepath.Join(dir, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"))

	port := FreePort(t)
	c := &Cluster{URL: fmt.Sprintf("https://127.0.0.1:%d", port)}
	startProcess(t, "kube-apiserver", apiserver, []string{
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(port),
		"--endpoint-reconciler-type", "none",
		"--cert-dir", filepath.Join(dir, "certs"),
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--enable-priority-and-fairness=false",
	}, nil, dir)

	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	writeFile(t, c.Kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
`, c.URL, token)))
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		cancel()
		if err == nil && string(body) == "ok" {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver at %s not ready: %v %s", c.URL, err, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func writeFile(t T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// StartProcess runs a long-lived command until the test ends, its output in
// name.log under dir (printed when the test fails), and returns the log path.
func StartProcess(t T, name, bin string, args, env []string, dir string) string {
	t.Helper()
	startProcess(t, name, bin, args, env, dir)
	return filepath.Join(dir, name+".log")
}
