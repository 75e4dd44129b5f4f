package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrDriverConfig marks a create the driver failed for want of a setting:
// INTERNAL or UNKNOWN twice by the same name, with nothing made. ceph-csi
// answers a missing clusterID or an empty CSI secret this way.
var ErrDriverConfig = errors.New("the CSI driver failed the call the same way twice and made nothing: most likely a setting it needs")

// internalFault is an answer that says neither "done" nor "refused":
// the driver failed inside.
// Only a gRPC status counts: status.Code says UNKNOWN of any other error.
func internalFault(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return false
	}
	switch se.GRPCStatus().Code() {
	case codes.Internal, codes.Unknown:
		return true
	}
	return false
}

// sameFault: the create and its same-name retry both failed inside the
// driver, with the same code.
func sameFault(first, again error) bool {
	return internalFault(first) && internalFault(again) && status.Code(first) == status.Code(again)
}

// holdsSnapshot says whether the driver lists a snapshot of volumeID by
// that name (drivers that put the name in the ID, as GCE PD does). When
// it cannot list, the same-name retry's failure is the answer: false.
func (s *session) holdsSnapshot(ctx context.Context, volumeID, name string) bool {
	if !s.canList {
		return false
	}
	var resp *csi.ListSnapshotsResponse
	err := s.call(ctx, "list snapshots of "+volumeID, false, func(ctx context.Context) (err error) {
		resp, err = s.csi.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: volumeID, Secrets: s.creds})
		return err
	})
	if err != nil {
		s.log.WithError(err).Debug("cannot list the volume's snapshots; the same-name retry's failure stands")
		return false
	}
	for _, e := range resp.GetEntries() {
		if strings.Contains(e.GetSnapshot().GetSnapshotId(), name) {
			return true
		}
	}
	return false
}

// configError leads with the driver's own message, then says what it
// means and which VSL keys feed the call (prefix: parameters or
// restoreParameters; and the CSI secret). It wraps the driver's error and
// ErrDriverConfig.
func (s *session) configError(rpc, object string, cause error, prefix string) error {
	st := status.Convert(cause)
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(cause, &se) {
		st = se.GRPCStatus()
	}
	params := "none set"
	if m := s.paramsOf(prefix); len(m) > 0 {
		params = "set: " + strings.Join(m, ", ")
	}
	secret := "none set"
	if s.cfg.SecretName != "" {
		secret = s.cfg.SecretNamespace + "/" + s.cfg.SecretName
	}
	return fmt.Errorf("%s (CSI driver %s answered %s to %s of %s and to its retry by the same name, and holds nothing by that name: nothing is left behind): %w; "+
		"%s gets from the VSL %s.<name> (%s) and the CSI secret of snapshotterSecretName/snapshotterSecretNamespace (%s): check them against the driver's documentation: %w",
		st.Message(), s.cfg.Driver, st.Code(), rpc, object, ErrDriverConfig, rpc, prefix, params, secret, cause)
}

func (s *session) paramsOf(prefix string) []string {
	m := s.cfg.SnapshotParameters
	if prefix == "restoreParameters" {
		m = s.cfg.RestoreParameters
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, prefix+"."+k)
	}
	return out
}
