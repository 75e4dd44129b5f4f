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

	"example.io/velero-plugin-s3csi/doctor"
)

// TestDoctorJob: the one-off doctor Job runs the plugin the way Velero's
// pod does: the same init container copies the binary into the volume the
// doctor container runs it from, as Velero's service account, with
// Velero's default credentials file where Velero's install puts it; and
// its command is one doctor accepts.
func TestDoctorJob(t *testing.T) {
	d := docs(t, "doctor-job.yaml")
	require.Len(t, d, 1)
	var job batchv1.Job
	require.NoError(t, yaml.UnmarshalStrict(d[0], &job))
	pod := job.Spec.Template.Spec
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	require.NotNil(t, job.Spec.BackoffLimit)
	assert.Zero(t, *job.Spec.BackoffLimit, "a failed check is not retried")
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
	assert.Equal(t, "/plugins", mounts[init.VolumeMounts[0].Name], "the doctor container runs the copied binary")
	require.Equal(t, []string{"/plugins/velero-plugin-s3csi", "doctor"}, c.Command)
	assert.NoError(t, doctor.CheckArgs(c.Args), "doctor accepts %q", c.Args)
	assert.Contains(t, mounts, "tmp", "a writable /tmp for doctor's files and the spool check")

	// Velero's own install: the credentials Secret, its mount and the env
	// that points the AWS SDK at it.
	velero := veleroinstall.Deployment("velero", veleroinstall.WithSecret(true)).Spec.Template.Spec
	vc := velero.Containers[0]
	env := func(c corev1.Container, name string) string {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
		return ""
	}
	require.NotEmpty(t, env(vc, "AWS_SHARED_CREDENTIALS_FILE"), "Velero's install sets it")
	assert.Equal(t, env(vc, "AWS_SHARED_CREDENTIALS_FILE"), env(c, "AWS_SHARED_CREDENTIALS_FILE"))
	secretOf := func(vs []corev1.Volume, name string) string {
		for _, v := range vs {
			if v.Name == name && v.Secret != nil {
				return v.Secret.SecretName
			}
		}
		return ""
	}
	require.NotEmpty(t, secretOf(velero.Volumes, "cloud-credentials"), "Velero's install mounts it")
	assert.Equal(t, secretOf(velero.Volumes, "cloud-credentials"), secretOf(pod.Volumes, "cloud-credentials"))
	for _, m := range vc.VolumeMounts {
		if m.Name == "cloud-credentials" {
			assert.Equal(t, m.MountPath, mounts["cloud-credentials"])
		}
	}
	var ns string
	for _, e := range c.Env {
		if e.Name == "VELERO_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			ns = e.ValueFrom.FieldRef.FieldPath
		}
	}
	assert.Equal(t, "metadata.namespace", ns, "doctor reads Velero's namespace as the plugin does")
}
