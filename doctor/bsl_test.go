package doctor_test

// bsl is a BackupStorageLocation manifest for bucket on endpoint.
func bsl(bucket, prefix string, config map[string]string) map[string]any {
	return map[string]any{
		"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
		"metadata": map[string]any{"name": "default", "namespace": "velero"},
		"spec": map[string]any{
			"provider":      "example.io/s3compat",
			"objectStorage": map[string]any{"bucket": bucket, "prefix": prefix},
			"config":        config,
		},
	}
}
