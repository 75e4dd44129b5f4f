package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	veleroinstall "github.com/vmware-tanzu/velero/pkg/install"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/doctor"
	"example.io/velero-plugin-s3csi/verify"
)

// helmValues is the part of the vmware-tanzu/velero chart's values (12.x)
// that deploy/helm-values*.yaml set; decoding strictly catches a key the
// chart does not have.
type helmValues struct {
	InitContainers    []corev1.Container   `json:"initContainers"`
	ExtraVolumes      []corev1.Volume      `json:"extraVolumes"`
	ExtraVolumeMounts []corev1.VolumeMount `json:"extraVolumeMounts"`
	Configuration     struct {
		Features              string `json:"features"`
		BackupStorageLocation []struct {
			Name, Provider, Bucket, Prefix string
			Default                        bool
			Config                         map[string]string
		} `json:"backupStorageLocation"`
		VolumeSnapshotLocation []struct {
			Name, Provider string
			Config         map[string]string
		} `json:"volumeSnapshotLocation"`
	} `json:"configuration"`
	Credentials struct {
		UseSecret      bool   `json:"useSecret"`
		ExistingSecret string `json:"existingSecret"`
	} `json:"credentials"`
	ConfigMaps map[string]struct {
		Labels map[string]string `json:"labels"`
		Data   map[string]string `json:"data"` // strings only: an unquoted number fails here as in the chart's ConfigMap
	} `json:"configMaps"`
	ExtraObjects []json.RawMessage `json:"extraObjects"`
}

// helmMerge merges an overlay values file onto a base as Helm does with
// several -f files: maps merge key by key, everything else (lists included)
// is replaced whole.
func helmMerge(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		bm, ok1 := out[k].(map[string]any)
		om, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			out[k] = helmMerge(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

func readValues(t *testing.T, files ...string) helmValues {
	t.Helper()
	merged := map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, yaml.Unmarshal(b, &m), f)
		merged = helmMerge(merged, m)
	}
	b, err := json.Marshal(merged)
	require.NoError(t, err)
	// encoding/json, not sigs.k8s.io/yaml: the latter turns a number into
	// the string a field wants, while the chart writes it into the
	// ConfigMap as a number, which the API server refuses.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v helmValues
	require.NoError(t, dec.Decode(&v), "%v: a key the chart's values do not have, or a ConfigMap value that is not a string", files)
	return v
}

// chartNames is what chart 12.1.0's helpers render for `helm install
// velero vmware-tanzu/velero -n velero` with these values (the release name
// contains the chart name, so fullname is the release name). The lead
// checked them with helm template; CI has no chart, so it checks against
// these.
func chartNames(v helmValues) map[string]string {
	return map[string]string{
		`{{ include "velero.fullname" . }}`:             "velero",
		`{{ include "velero.serverServiceAccount" . }}`: "velero-server",
		`{{ include "velero.secretName" . }}`:           v.Credentials.ExistingSecret,
		`{{ (index .Values.initContainers 0).image }}`:  v.InitContainers[0].Image,
		`{{ .Values.image.repository }}`:                "docker.io/velero/velero",
		`{{ .Values.image.tag }}`:                       "v1.18.1",
		`{{ .Release.Namespace }}`:                      "velero",
	}
}

// TestHelmValues: both Helm paths (the node socket, and the csi-relay
// overlay) give the plugin a BSL, a VSL and ConfigMaps that its own parser
// takes, and doctor as the release's test, run as the chart's service
// account with the chart's credentials Secret.
func TestHelmValues(t *testing.T) {
	for _, files := range [][]string{
		{"helm-values.yaml"},
		{"helm-values.yaml", "helm-values-csi-relay.yaml"},
	} {
		t.Run(strings.Join(files, "+"), func(t *testing.T) {
			v := readValues(t, files...)
			require.Len(t, v.InitContainers, 1)
			assert.Equal(t, "/target", v.InitContainers[0].VolumeMounts[0].MountPath)
			assert.NotContains(t, v.Configuration.Features, "EnableCSI")
			require.True(t, v.Credentials.UseSecret)
			require.NotEmpty(t, v.Credentials.ExistingSecret, "the values name the credentials Secret the docs create first")

			require.Len(t, v.Configuration.BackupStorageLocation, 1)
			bsl := v.Configuration.BackupStorageLocation[0]
			assert.Equal(t, "example.io/s3compat", bsl.Provider)
			cfg := map[string]string{"bucket": bsl.Bucket}
			for k, val := range bsl.Config {
				cfg[k] = val
			}
			_, err := config.ParseObjectStore(config.Layer{Name: "BSL", Values: cfg})
			require.NoError(t, err, "the BSL config is valid for the plugin")
			require.Len(t, v.Configuration.VolumeSnapshotLocation, 1)
			vsl := v.Configuration.VolumeSnapshotLocation[0]
			assert.Equal(t, "example.io/csi", vsl.Provider)
			_, err = config.ParseSnapshotter(config.Layer{Name: "VSL", Values: vsl.Config})
			require.NoError(t, err, "the VSL config is valid for the plugin")
			if strings.HasPrefix(vsl.Config["endpoint"], "tcp://") {
				assert.Empty(t, v.ExtraVolumes, "no node socket on the relay path")
			} else {
				require.Len(t, v.ExtraVolumeMounts, 1)
				assert.Contains(t, vsl.Config["driver"], strings.TrimPrefix(v.ExtraVolumeMounts[0].MountPath, "/var/lib/kubelet/plugins/"), "the socket mounted is the driver's")
			}

			kinds := map[string]bool{}
			for name, cm := range v.ConfigMaps {
				assert.Contains(t, cm.Labels, "velero.io/plugin-config", name)
				layer := config.Layer{Name: "ConfigMap " + name, Values: cm.Data, TunablesOnly: true}
				if cm.Labels["example.io/s3compat"] == "ObjectStore" {
					kinds["ObjectStore"] = true
					_, err := config.ParseObjectStore(config.Layer{Name: "BSL", Values: map[string]string{"bucket": "b"}}, layer)
					require.NoError(t, err, name)
					assert.Equal(t, "/scratch", cm.Data["spoolDir"], "the chart mounts Velero's scratch emptyDir there")
				} else {
					require.Equal(t, "VolumeSnapshotter", cm.Labels["example.io/csi"], name)
					kinds["VolumeSnapshotter"] = true
					_, err := config.ParseSnapshotter(config.Layer{Name: "VSL", Values: map[string]string{"driver": "d"}}, layer)
					require.NoError(t, err, name)
				}
			}
			assert.Equal(t, map[string]bool{"ObjectStore": true, "VolumeSnapshotter": true}, kinds, "a ConfigMap for each plugin")

			require.Len(t, v.ExtraObjects, 2, "doctor's test pod and verify's CronJob")
			render := func(raw string) []byte {
				assert.Contains(t, raw, `"serviceAccountName":"{{ include \"velero.serverServiceAccount\" . }}"`, "the chart's own service account helper")
				for tmpl, val := range chartNames(v) {
					raw = strings.ReplaceAll(raw, strings.ReplaceAll(tmpl, `"`, `\"`), val)
				}
				require.NotContains(t, raw, "{{", "a template the test does not know: %s", raw)
				return []byte(raw)
			}
			var pod corev1.Pod
			require.NoError(t, yaml.UnmarshalStrict(render(string(v.ExtraObjects[0])), &pod))
			assert.Equal(t, "test", pod.Annotations["helm.sh/hook"], "run by helm test")
			checkToolPod(t, pod.Spec, "doctor", doctor.CheckArgs, v.InitContainers[0], v.Credentials.ExistingSecret)

			var cj batchv1.CronJob
			require.NoError(t, yaml.UnmarshalStrict(render(string(v.ExtraObjects[1])), &cj))
			assert.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy, "one run at a time")
			require.NotNil(t, cj.Spec.JobTemplate.Spec.BackoffLimit)
			assert.Zero(t, *cj.Spec.JobTemplate.Spec.BackoffLimit, "a failed backup is not retried")
			checkToolPod(t, cj.Spec.JobTemplate.Spec.Template.Spec, "verify", verify.CheckArgs, v.InitContainers[0], v.Credentials.ExistingSecret)
			assert.Equal(t, []string{"--all"}, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, "every BSL of the plugin")
		})
	}
}

// checkToolPod holds a pod that runs one of the plugin's commands (doctor's
// Job or Helm test, verify's CronJob) to the way Velero's pod runs the
// plugin: the plugin copied in by the same init container, run from
// /plugins with flags the command accepts, the credentials Secret mounted
// where Velero's pod has it, a writable /tmp.
func checkToolPod(t *testing.T, pod corev1.PodSpec, command string, checkArgs func([]string) error, wantInit corev1.Container, credentialsSecret string) {
	t.Helper()
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	require.Len(t, pod.InitContainers, 1)
	init := pod.InitContainers[0]
	assert.Equal(t, wantInit.Image, init.Image, "the plugin image of Velero's deployment")
	assert.Equal(t, wantInit.VolumeMounts, init.VolumeMounts, "copied to /target of the plugins volume")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	assert.Equal(t, "/plugins", mounts[init.VolumeMounts[0].Name], "the container runs the copied binary")
	require.Equal(t, []string{"/plugins/velero-plugin-s3csi", command}, c.Command)
	assert.NoError(t, checkArgs(c.Args), "%s accepts %q", command, c.Args)
	assert.Contains(t, mounts, "tmp", "a writable /tmp for the command's files")

	// Velero's pod, from velero install and from the chart alike: the
	// Secret at /credentials, AWS_SHARED_CREDENTIALS_FILE=/credentials/cloud.
	velero := veleroinstall.Deployment("velero", veleroinstall.WithSecret(true)).Spec.Template.Spec
	vc := velero.Containers[0]
	envOf := func(c corev1.Container, name string) string {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
		return ""
	}
	require.NotEmpty(t, envOf(vc, "AWS_SHARED_CREDENTIALS_FILE"), "Velero's install sets it")
	assert.Equal(t, envOf(vc, "AWS_SHARED_CREDENTIALS_FILE"), envOf(c, "AWS_SHARED_CREDENTIALS_FILE"))
	for _, m := range vc.VolumeMounts {
		if m.Name == "cloud-credentials" {
			assert.Equal(t, m.MountPath, mounts["cloud-credentials"])
		}
	}
	var secret string
	for _, v := range pod.Volumes {
		if v.Name == "cloud-credentials" && v.Secret != nil {
			secret = v.Secret.SecretName
			require.NotNil(t, v.Secret.Optional)
			assert.True(t, *v.Secret.Optional, "absent when every BSL has its spec.credential")
		}
	}
	assert.Equal(t, credentialsSecret, secret)
	var ns string
	for _, e := range c.Env {
		if e.Name == "VELERO_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			ns = e.ValueFrom.FieldRef.FieldPath
		}
	}
	assert.Equal(t, "metadata.namespace", ns, "doctor reads Velero's namespace as the plugin does")
}
