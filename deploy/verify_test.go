package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	veleroinstall "github.com/vmware-tanzu/velero/pkg/install"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/verify"
)

// TestVerifyCronJob: the weekly verify runs the plugin as Velero's pod
// does (the same init container, service account, default credentials
// file and namespace), with a command verify accepts, and a failed
// backup fails its Job without a retry.
func TestVerifyCronJob(t *testing.T) {
	d := docs(t, "verify-cronjob.yaml")
	require.Len(t, d, 1)
	var cj batchv1.CronJob
	require.NoError(t, yaml.UnmarshalStrict(d[0], &cj))
	assert.Equal(t, "velero", cj.Namespace, "Velero's namespace, where the BSLs are")
	assert.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy, "one run at a time")
	assert.Regexp(t, `^\d+ \d+ \* \* \d$`, cj.Spec.Schedule, "once a week")
	job := cj.Spec.JobTemplate.Spec
	require.NotNil(t, job.BackoffLimit)
	assert.Zero(t, *job.BackoffLimit, "a failed backup is not retried")
	pod := job.Template.Spec
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy, "exit 1 fails the Job")
	assert.Equal(t, "velero", pod.ServiceAccountName, "Velero's identity: its RBAC, its IRSA annotation")

	var patch appsv1.Deployment
	require.NoError(t, yaml.UnmarshalStrict(docs(t, "velero-deployment-patch.yaml")[0], &patch))
	require.Len(t, pod.InitContainers, 1)
	init, want := pod.InitContainers[0], patch.Spec.Template.Spec.InitContainers[0]
	assert.Equal(t, want.Image, init.Image, "the plugin image of Velero's deployment")
	assert.Equal(t, want.VolumeMounts, init.VolumeMounts, "copied to /target of the plugins volume")

	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	assert.Equal(t, "/plugins", mounts[init.VolumeMounts[0].Name], "the container runs the copied binary")
	require.Equal(t, []string{"/plugins/velero-plugin-s3csi", "verify"}, c.Command)
	assert.NoError(t, verify.CheckArgs(c.Args), "verify accepts %q", c.Args)
	assert.Contains(t, c.Args, "--all", "every BSL of the plugin")
	assert.Contains(t, mounts, "tmp", "a writable /tmp for the Secrets' files")

	velero := veleroinstall.Deployment("velero", veleroinstall.WithSecret(true)).Spec.Template.Spec
	vc := velero.Containers[0]
	env := func(c corev1.Container, name string) (string, string) {
		for _, e := range c.Env {
			if e.Name == name {
				if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
					return e.Value, e.ValueFrom.FieldRef.FieldPath
				}
				return e.Value, ""
			}
		}
		return "", ""
	}
	veleroCreds, _ := env(vc, "AWS_SHARED_CREDENTIALS_FILE")
	ours, _ := env(c, "AWS_SHARED_CREDENTIALS_FILE")
	require.NotEmpty(t, veleroCreds, "Velero's install sets it")
	assert.Equal(t, veleroCreds, ours)
	for _, m := range vc.VolumeMounts {
		if m.Name == "cloud-credentials" {
			assert.Equal(t, m.MountPath, mounts["cloud-credentials"])
		}
	}
	secretOf := func(vs []corev1.Volume, name string) string {
		for _, v := range vs {
			if v.Name == name && v.Secret != nil {
				return v.Secret.SecretName
			}
		}
		return ""
	}
	require.NotEmpty(t, secretOf(velero.Volumes, "cloud-credentials"))
	assert.Equal(t, secretOf(velero.Volumes, "cloud-credentials"), secretOf(pod.Volumes, "cloud-credentials"))
	_, ns := env(c, "VELERO_NAMESPACE")
	assert.Equal(t, "metadata.namespace", ns, "verify reads Velero's namespace as the plugin does")
}
