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
	velero := veleroinstall.Deployment("velero", veleroinstall.WithSecret(true)).Spec.Template.Spec
	var secret string
	for _, v := range velero.Volumes {
		if v.Name == "cloud-credentials" && v.Secret != nil {
			secret = v.Secret.SecretName
		}
	}
	require.NotEmpty(t, secret, "Velero's install mounts its credentials Secret")
	checkToolPod(t, pod, "verify", verify.CheckArgs, patch.Spec.Template.Spec.InitContainers[0], secret)
	require.Len(t, pod.Containers, 1)
	assert.Contains(t, pod.Containers[0].Args, "--all", "every BSL of the plugin")
}
