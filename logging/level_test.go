package logging

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A host at info drops debug lines; with the override they arrive at info
// with their real level in pluginLogLevel, and without it they are gone.
func TestApplyPromotesToHostLevel(t *testing.T) {
	var out bytes.Buffer
	l := logrus.New()
	l.SetOutput(&out)
	l.SetFormatter(&logrus.JSONFormatter{})
	l.SetLevel(logrus.InfoLevel) // Velero's --log-level

	Apply(l, "debug")
	l.Debug("detail")
	var line map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &line))
	assert.Equal(t, "info", line["level"])
	assert.Equal(t, "info", line["@level"])
	assert.Equal(t, "debug", line["pluginLogLevel"])

	out.Reset()
	Apply(l, "") // the ConfigMap dropped logLevel: back to Velero's level
	l.Debug("detail")
	assert.Empty(t, out.String())
	l.Info("state")
	assert.Contains(t, out.String(), `"msg":"state"`)
	assert.NotContains(t, out.String(), "pluginLogLevel")

	out.Reset()
	Apply(l, "error") // cannot lower below Velero's level
	l.Info("still shown")
	assert.Contains(t, out.String(), "still shown")
}
