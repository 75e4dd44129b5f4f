package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	veleroinstall "github.com/vmware-tanzu/velero/pkg/install"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
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
	require.NotNil(t, job.Spec.BackoffLimit)
	assert.Zero(t, *job.Spec.BackoffLimit, "a failed check is not retried")
	pod := job.Spec.Template.Spec
	assert.Equal(t, veleroinstall.ServiceAccount("velero", nil).Name, pod.ServiceAccountName,
		"the account velero install makes (the Helm chart's is <release>-server: helm-values.yaml runs doctor as helm test)")

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
	checkToolPod(t, pod, "doctor", doctor.CheckArgs, patch.Spec.Template.Spec.InitContainers[0], secret)
}
