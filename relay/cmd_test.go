package relay

import (
	"io"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -v is klog's verbosity: the relay's lines are at info, which no -v
// hides; 4 is debug, 5 and up trace. The deprecated --log-level still
// names a level.
func TestVerbosity(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want logrus.Level
	}{
		{nil, logrus.InfoLevel},
		{[]string{"-v=2"}, logrus.InfoLevel},
		{[]string{"-v", "3"}, logrus.InfoLevel},
		{[]string{"--v=4"}, logrus.DebugLevel},
		{[]string{"-v5"}, logrus.TraceLevel},
		{[]string{"--v", "9"}, logrus.TraceLevel},
		{[]string{"--log-level=warning"}, logrus.WarnLevel},
		{[]string{"--log-level", "debug"}, logrus.DebugLevel},
	} {
		_, log, err := ParseFlags(tc.args, io.Discard)
		require.NoError(t, err, "%q", tc.args)
		assert.Equal(t, tc.want, log.GetLevel(), "%q", tc.args)
	}
}
