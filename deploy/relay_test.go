package deploy

import (
	"bytes"
	"encoding/json"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	veleroinstall "github.com/vmware-tanzu/velero/pkg/install"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/config"
	csirelay "example.io/velero-plugin-s3csi/relay"
)

// The csi-relay manifests (csi-relay/): the relay sidecar patch for a CSI
// controller, its Service and NetworkPolicy, cert-manager objects, the VSL
// that dials the relay and the RBAC for its client Secret. Each document
// is decoded strictly; the tests after that check the facts that must agree
// across files, which a typo in one file breaks without any decode error.

const relayDir = "csi-relay"

// cmIssuer and cmCertificate mirror the fields of cert-manager.io/v1
// Issuer/ClusterIssuer and Certificate that csi-relay/cert-manager.yaml
// uses, with cert-manager's JSON names, so a strict decode catches a
// misspelt field. They are not cert-manager's Go types: importing
// github.com/cert-manager/cert-manager (v1.18.x keeps k8s.io/* at v0.33)
// would add it to go.mod, which this file does not change.
type cmIssuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		SelfSigned *struct{} `json:"selfSigned,omitempty"`
		CA         *struct {
			SecretName string `json:"secretName"`
		} `json:"ca,omitempty"`
	} `json:"spec"`
}

type cmCertificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		SecretName  string           `json:"secretName"`
		CommonName  string           `json:"commonName,omitempty"`
		DNSNames    []string         `json:"dnsNames,omitempty"`
		IsCA        bool             `json:"isCA,omitempty"`
		Duration    *metav1.Duration `json:"duration,omitempty"`
		RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
		Usages      []string         `json:"usages,omitempty"`
		PrivateKey  *struct {
			RotationPolicy string `json:"rotationPolicy,omitempty"`
			Algorithm      string `json:"algorithm,omitempty"`
			Size           int    `json:"size,omitempty"`
		} `json:"privateKey,omitempty"`
		IssuerRef struct {
			Name  string `json:"name"`
			Kind  string `json:"kind,omitempty"`
			Group string `json:"group,omitempty"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

// relayManifests is every object in csi-relay/, decoded strictly.
type relayManifests struct {
	patch    *appsv1.Deployment
	svc      *corev1.Service
	policy   *networkingv1.NetworkPolicy
	vsl      *velerov1.VolumeSnapshotLocation
	issuers  map[string]*cmIssuer      // Issuers by namespace/name; a ClusterIssuer by /name
	certs    map[string]*cmCertificate // by name
	roles    []*rbacv1.Role
	bindings []*rbacv1.RoleBinding
}

func loadRelay(t *testing.T) relayManifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(relayDir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	m := relayManifests{issuers: map[string]*cmIssuer{}, certs: map[string]*cmCertificate{}}
	for _, f := range files {
		for _, d := range docs(t, f) {
			var k meta
			require.NoError(t, yaml.Unmarshal(d, &k), f)
			var obj any
			switch k.Kind {
			case "Deployment":
				obj = single(t, f, &m.patch)
			case "Service":
				obj = single(t, f, &m.svc)
			case "NetworkPolicy":
				obj = single(t, f, &m.policy)
			case "VolumeSnapshotLocation":
				obj = single(t, f, &m.vsl)
			case "Issuer", "ClusterIssuer":
				is := &cmIssuer{}
				require.NoError(t, yaml.UnmarshalStrict(d, is), f)
				m.issuers[is.Namespace+"/"+is.Name] = is
				continue
			case "Certificate":
				c := &cmCertificate{}
				require.NoError(t, yaml.UnmarshalStrict(d, c), f)
				m.certs[c.Name] = c
				continue
			case "Role":
				r := &rbacv1.Role{}
				m.roles = append(m.roles, r)
				obj = r
			case "RoleBinding":
				b := &rbacv1.RoleBinding{}
				m.bindings = append(m.bindings, b)
				obj = b
			default:
				t.Fatalf("%s: kind %q has no check", f, k.Kind)
			}
			require.NoError(t, yaml.UnmarshalStrict(d, obj), f)
		}
	}
	require.NotNil(t, m.patch, "no Deployment patch")
	require.NotNil(t, m.svc, "no Service")
	require.NotNil(t, m.policy, "no NetworkPolicy")
	require.NotNil(t, m.vsl, "no VolumeSnapshotLocation")
	require.NotEmpty(t, m.roles, "no Role")
	require.NotEmpty(t, m.bindings, "no RoleBinding")
	return m
}

// single makes the one object of its kind that the checks expect, in *slot.
func single[T any](t *testing.T, f string, slot **T) *T {
	t.Helper()
	require.Nil(t, *slot, "%s: a second %T; the checks below expect one", f, *slot)
	*slot = new(T)
	return *slot
}

// ebsController is the part of aws-ebs-csi-driver's controller Deployment
// (kubernetes-sigs/aws-ebs-csi-driver deploy/kubernetes/base/controller.yaml)
// that the relay patch meets: its name, pod labels, user, the driver
// container's socket and the emptyDir that holds it.
func ebsController() *appsv1.Deployment {
	podLabels := map[string]string{"app": "ebs-csi-controller", "app.kubernetes.io/name": "aws-ebs-csi-driver"}
	user := int64(1000)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "ebs-csi-controller", Namespace: "kube-system"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{RunAsUser: &user, RunAsGroup: &user, FSGroup: &user},
					Containers: []corev1.Container{{
						Name:         "ebs-plugin",
						Args:         []string{"controller", "--endpoint=$(CSI_ENDPOINT)"},
						Env:          []corev1.EnvVar{{Name: "CSI_ENDPOINT", Value: "unix:///var/lib/csi/sockets/pluginproxy/csi.sock"}},
						VolumeMounts: []corev1.VolumeMount{{Name: "socket-dir", MountPath: "/var/lib/csi/sockets/pluginproxy/"}},
					}},
					Volumes: []corev1.Volume{{Name: "socket-dir", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
}

// patched applies the relay patch to ebsController as kubectl patch does
// and returns the merged pod spec, its relay and its driver container.
func patched(t *testing.T, m relayManifests) (corev1.PodSpec, corev1.Container, corev1.Container) {
	t.Helper()
	base := ebsController()
	require.Equal(t, base.Name, m.patch.Name, "the patch names the controller Deployment")
	require.Equal(t, base.Namespace, m.patch.Namespace)
	orig, err := json.Marshal(base)
	require.NoError(t, err)
	p, err := json.Marshal(m.patch)
	require.NoError(t, err)
	merged, err := strategicpatch.StrategicMergePatch(orig, p, appsv1.Deployment{})
	require.NoError(t, err)
	var out appsv1.Deployment
	require.NoError(t, json.Unmarshal(merged, &out))
	spec := out.Spec.Template.Spec
	require.Len(t, spec.Containers, 2, "the driver container stays, the relay joins it")
	byName := map[string]corev1.Container{}
	for _, c := range spec.Containers {
		byName[c.Name] = c
	}
	require.Contains(t, byName, "csi-relay")
	require.Contains(t, byName, "ebs-plugin")
	return spec, byName["csi-relay"], byName["ebs-plugin"]
}

// flagValues reads --name=value and --name value arguments.
func flagValues(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			continue
		}
		k, v, hasValue := strings.Cut(name, "=")
		if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			v, i = args[i+1], i+1
		}
		out[k] = v
	}
	return out
}

func hostPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, addr)
	n, err := strconv.ParseInt(p, 10, 32)
	require.NoError(t, err, addr)
	return int32(n)
}

// containerPort resolves a Service targetPort or probe port (a number or a
// port name) against a container's ports.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %s", c.Name, p.String())
	return 0
}

// mountFor returns the mount of the file path in container c.
func mountFor(t *testing.T, c corev1.Container, file string) corev1.VolumeMount {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			return vm
		}
	}
	t.Fatalf("container %s mounts nothing at %s", c.Name, file)
	return corev1.VolumeMount{}
}

// clientCASecret is the Secret in the driver's namespace that holds the
// client CA's certificate alone: the relay's --client-ca-file.
const clientCASecret = "csi-relay-client-ca"

func TestRelayManifestsDecodeStrictly(t *testing.T) {
	m := loadRelay(t)
	assert.Len(t, m.issuers, 4, "per side, a self-signed Issuer and the CA's Issuer")
	assert.Len(t, m.certs, 4, "two CAs, the relay's server and Velero's client certificates")
}

func TestRelaySidecar(t *testing.T) {
	m := loadRelay(t)
	spec, relay, driver := patched(t, m)
	require.NotEmpty(t, relay.Args)
	assert.Equal(t, "csi-relay", relay.Args[0], "the sub-mode comes first")
	assert.Equal(t, []string{"/plugins/velero-plugin-s3csi"}, relay.Command, "the image's entrypoint is `install`")
	flags := flagValues(relay.Args[1:])
	t.Run("the relay takes its flags", func(t *testing.T) {
		var log bytes.Buffer
		c, _, err := csirelay.ParseFlags(relay.Args[1:], &log)
		require.NoError(t, err)
		assert.Empty(t, log.String(), "no deprecated flag, no warning")
		assert.Equal(t, flags["csi-address"], c.CSIAddress)
		assert.Equal(t, flags["http-endpoint"], c.HTTPEndpoint)
	})
	for _, f := range []string{"csi-address", "listen", "tls-cert-file", "tls-private-key-file", "client-ca-file", "client-name", "http-endpoint"} {
		assert.NotEmpty(t, flags[f], "--%s", f)
	}
	for _, f := range []string{"health-listen", "tls-key-file", "log-level"} {
		assert.NotContains(t, flags, f, "--%s is deprecated", f)
	}

	t.Run("socket", func(t *testing.T) {
		// The relay dials, under its mount, the file the driver listens
		// on under its own mount of the same volume.
		// A bare path, as every kubernetes-csi sidecar takes it.
		sock := flags["csi-address"]
		require.True(t, path.IsAbs(sock), "--csi-address %q is an absolute path", sock)
		relayMount := mountFor(t, relay, sock)
		var endpoint string
		for _, e := range driver.Env {
			if e.Name == "CSI_ENDPOINT" {
				endpoint = strings.TrimPrefix(e.Value, "unix://")
			}
		}
		driverMount := mountFor(t, driver, endpoint)
		assert.Equal(t, driverMount.Name, relayMount.Name, "the relay mounts the driver's socket volume")
		rel := func(file string, vm corev1.VolumeMount) string {
			return strings.TrimPrefix(path.Clean(file), path.Clean(vm.MountPath)+"/")
		}
		assert.Equal(t, rel(endpoint, driverMount), rel(sock, relayMount), "the same socket file")
		assert.False(t, relayMount.ReadOnly, "connect(2) needs a writable socket")
		for _, v := range spec.Volumes {
			if v.Name == relayMount.Name {
				assert.NotNil(t, v.EmptyDir, "the patch leaves the driver's emptyDir as it is")
			}
		}
	})

	t.Run("tls files", func(t *testing.T) {
		server := m.certs["csi-relay-server"]
		require.NotNil(t, server, "no csi-relay-server Certificate")
		for f, want := range map[string]string{"tls-cert-file": server.Spec.SecretName, "tls-private-key-file": server.Spec.SecretName,
			"client-ca-file": clientCASecret} {
			vm := mountFor(t, relay, flags[f])
			assert.True(t, vm.ReadOnly, "--%s is on a read-only mount", f)
			assert.Empty(t, vm.SubPath, "a subPath mount never sees a renewed Secret")
			var secret *corev1.SecretVolumeSource
			for _, v := range spec.Volumes {
				if v.Name == vm.Name {
					secret = v.Secret
				}
			}
			require.NotNil(t, secret, "--%s is in a Secret volume", f)
			assert.Equal(t, want, secret.SecretName, "--%s comes from Secret %s", f, want)
			assert.Contains(t, []string{"tls.crt", "tls.key", "ca.crt"}, path.Base(flags[f]), "a key of a cert-manager Secret")
		}
		client := m.certs["csi-relay-client"]
		require.NotNil(t, client, "no csi-relay-client Certificate")
		assert.Contains(t, client.Spec.DNSNames, flags["client-name"], "--client-name %q is a DNS SAN of Velero's client certificate", flags["client-name"])
	})

	t.Run("ports and probes", func(t *testing.T) {
		listen := hostPort(t, flags["listen"])
		assert.Equal(t, listen, containerPort(t, relay, intstr.FromString("csi-relay")), "--listen is the csi-relay port")
		health := hostPort(t, flags["http-endpoint"])
		for name, p := range map[string]*corev1.Probe{"readiness": relay.ReadinessProbe, "liveness": relay.LivenessProbe} {
			require.NotNil(t, p, name)
			require.NotNil(t, p.HTTPGet, name)
			assert.Equal(t, "/healthz", p.HTTPGet.Path, name)
			assert.Equal(t, health, containerPort(t, relay, p.HTTPGet.Port), "%s probe on --http-endpoint", name)
		}
	})

	t.Run("security context", func(t *testing.T) {
		sc := relay.SecurityContext
		require.NotNil(t, sc)
		assert.True(t, *sc.RunAsNonRoot)
		assert.True(t, *sc.ReadOnlyRootFilesystem)
		assert.False(t, *sc.AllowPrivilegeEscalation)
		assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
		assert.Equal(t, *spec.SecurityContext.RunAsUser, *sc.RunAsUser, "the driver's user: the socket is 0755")
		assert.NotNil(t, relay.Resources.Limits.Memory())
	})
}

func TestRelayServiceAndPolicy(t *testing.T) {
	m := loadRelay(t)
	_, relay, _ := patched(t, m)
	podLabels := labels.Set(ebsController().Spec.Template.Labels)
	relayPort := hostPort(t, flagValues(relay.Args)["listen"])

	assert.Equal(t, m.patch.Namespace, m.svc.Namespace)
	assert.Equal(t, corev1.ServiceTypeClusterIP, m.svc.Spec.Type)
	assert.True(t, labels.SelectorFromSet(m.svc.Spec.Selector).Matches(podLabels), "the Service selects the controller pods")
	require.Len(t, m.svc.Spec.Ports, 1)
	assert.Equal(t, relayPort, containerPort(t, relay, m.svc.Spec.Ports[0].TargetPort), "targetPort is the relay's port")

	np := m.policy.Spec
	assert.Equal(t, m.patch.Namespace, m.policy.Namespace)
	sel, err := metav1.LabelSelectorAsSelector(&np.PodSelector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(podLabels), "the policy selects the controller pods")
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.PolicyTypes)

	// Velero's own install: the server pod the plugin runs in, and the
	// node-agent pods, which share its component=velero label.
	server := labels.Set(veleroinstall.Deployment("velero").Spec.Template.Labels)
	nodeAgent := labels.Set(veleroinstall.DaemonSet("velero").Spec.Template.Labels)
	veleroNS := labels.Set{"kubernetes.io/metadata.name": "velero"}
	covers := func(p networkingv1.NetworkPolicyPort, port int32) bool {
		if p.Port == nil {
			return false
		}
		end := p.Port.IntVal
		if p.EndPort != nil {
			end = *p.EndPort
		}
		return p.Port.IntVal <= port && port <= end
	}
	admits := func(rule networkingv1.NetworkPolicyIngressRule, port int32) bool {
		// A rule without ports admits every port.
		return len(rule.Ports) == 0 || slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool { return covers(p, port) })
	}
	healthPort := hostPort(t, flagValues(relay.Args)["http-endpoint"])
	admitted := 0
	for _, rule := range np.Ingress {
		assert.False(t, admits(rule, healthPort), "the health port is the kubelet's, which NetworkPolicy always admits from the node")
		if !admits(rule, relayPort) {
			continue
		}
		admitted++
		require.Len(t, rule.From, 1, "the relay's port admits one peer: Velero's server")
		peer := rule.From[0]
		require.NotNil(t, peer.NamespaceSelector, "a rule without a namespace means the policy's own")
		require.NotNil(t, peer.PodSelector)
		ns, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
		require.NoError(t, err)
		pods, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
		require.NoError(t, err)
		assert.True(t, ns.Matches(veleroNS), "Velero's namespace")
		assert.False(t, ns.Matches(labels.Set{"kubernetes.io/metadata.name": "default"}), "only Velero's namespace")
		assert.True(t, pods.Matches(server), "Velero's server pod, as `velero install` labels it: %v", server)
		assert.False(t, pods.Matches(nodeAgent), "not the node-agent pods: %v", nodeAgent)
	}
	assert.Equal(t, 1, admitted, "one rule admits port %d", relayPort)
}

func TestRelayLocationAndCertificates(t *testing.T) {
	m := loadRelay(t)
	vsl, cfg := m.vsl, m.vsl.Spec.Config
	assert.Equal(t, "example.io/csi", vsl.Spec.Provider)
	assert.Equal(t, "velero", vsl.Namespace)
	assert.NotEmpty(t, cfg["driver"])

	u, err := url.Parse(cfg["endpoint"])
	require.NoError(t, err)
	assert.Equal(t, "tcp", u.Scheme)
	assert.Equal(t, m.svc.Name+"."+m.svc.Namespace+".svc", u.Hostname(), "the endpoint names the relay Service")
	assert.Equal(t, strconv.Itoa(int(m.svc.Spec.Ports[0].Port)), u.Port(), "at the Service's port")

	server, client := m.certs["csi-relay-server"], m.certs["csi-relay-client"]
	require.NotNil(t, server)
	require.NotNil(t, client)
	assert.Contains(t, server.Spec.DNSNames, u.Hostname(), "the server certificate is valid for the endpoint's host")
	if sn := cfg["tlsServerName"]; sn != "" {
		assert.Contains(t, server.Spec.DNSNames, sn)
	}
	assert.Equal(t, m.svc.Namespace, server.Namespace, "the server Secret lands where the relay mounts it")
	assert.Equal(t, cfg["tlsSecretNamespace"], client.Namespace, "the client Secret lands where the VSL reads it")
	assert.Equal(t, cfg["tlsSecretName"], client.Spec.SecretName)
	assert.Contains(t, server.Spec.Usages, "server auth")
	assert.Contains(t, client.Spec.Usages, "client auth")

	// Values of cert-manager's enums (the mirror types cannot check them).
	usages := []string{"signing", "digital signature", "content commitment", "key encipherment", "key agreement",
		"data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
		"client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
		"ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"}
	for name, c := range m.certs {
		for _, u := range c.Spec.Usages {
			assert.Contains(t, usages, u, "%s: usage", name)
		}
		require.NotNil(t, c.Spec.PrivateKey, name)
		assert.Equal(t, "ECDSA", c.Spec.PrivateKey.Algorithm, name)
		assert.Equal(t, 256, c.Spec.PrivateKey.Size, "%s: P-256", name)
		assert.Contains(t, []string{"", "Never", "Always"}, c.Spec.PrivateKey.RotationPolicy, name)
		assert.Equal(t, "cert-manager.io", c.Spec.IssuerRef.Group, name)

		// Every Certificate names an Issuer of its own namespace in this
		// file: no ClusterIssuer, which any namespace could use.
		assert.Equal(t, "Issuer", c.Spec.IssuerRef.Kind, name)
		is := m.issuers[c.Namespace+"/"+c.Spec.IssuerRef.Name]
		require.NotNil(t, is, "%s: issuer %s/%s is in cert-manager.yaml", name, c.Namespace, c.Spec.IssuerRef.Name)
		if c.Spec.IsCA {
			assert.NotNil(t, is.Spec.SelfSigned, "%s: the CA signs itself", name)
			continue
		}
		require.NotNil(t, is.Spec.CA, "%s: signed by a CA", name)
		ca := m.certs[is.Spec.CA.SecretName]
		require.NotNil(t, ca, "the CA Issuer's Secret comes from a CA Certificate")
		assert.True(t, ca.Spec.IsCA)
		assert.Equal(t, c.Namespace, ca.Namespace, "an Issuer reads its CA Secret in its own namespace")
	}
	for key := range m.issuers {
		assert.False(t, strings.HasPrefix(key, "/"), "%s: a ClusterIssuer signs for every namespace", key)
	}
	assert.Equal(t, "velero", m.certs["csi-relay-client"].Namespace)
	assert.NotEqual(t, m.certs["csi-relay-client"].Spec.IssuerRef, m.certs["csi-relay-server"].Spec.IssuerRef, "the client and server CAs are two")

	t.Run("rbac reads the client Secret", func(t *testing.T) {
		require.Len(t, m.roles, 1)
		r := m.roles[0]
		assert.Equal(t, cfg["tlsSecretNamespace"], r.Namespace)
		require.Len(t, r.Rules, 1)
		assert.Equal(t, []string{"secrets"}, r.Rules[0].Resources)
		assert.Equal(t, []string{cfg["tlsSecretName"], cfg["tlsCASecretName"]}, r.Rules[0].ResourceNames)
		assert.Equal(t, []string{"get"}, r.Rules[0].Verbs)
		require.Len(t, m.bindings, 1)
		b := m.bindings[0]
		assert.Equal(t, r.Namespace, b.Namespace)
		assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: r.Name}, b.RoleRef)
		assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "velero", Namespace: "velero"}}, b.Subjects)
	})

	t.Run("the plugin parses the config", func(t *testing.T) {
		s, err := config.ParseSnapshotter(config.Layer{Name: "csi-relay/volumesnapshotlocation.yaml", Values: cfg})
		require.NoError(t, err)
		assert.True(t, s.Network(), "a relay endpoint")
	})
}
