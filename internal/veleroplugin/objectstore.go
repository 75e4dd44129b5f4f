package veleroplugin

import (
	"context"
	"io"
	"sync"
	"time"

	proto "github.com/vmware-tanzu/velero/pkg/plugin/generated"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ObjectStore is what Velero calls of an object store plugin (the method
// set of Velero's pkg/plugin/velero.ObjectStore).
type ObjectStore interface {
	Init(config map[string]string) error
	PutObject(bucket, key string, body io.Reader) error
	ObjectExists(bucket, key string) (bool, error)
	GetObject(bucket, key string) (io.ReadCloser, error)
	ListCommonPrefixes(bucket, prefix, delimiter string) ([]string, error)
	ListObjects(bucket, prefix string) ([]string, error)
	DeleteObject(bucket, key string) error
	CreateSignedURL(bucket, key string, ttl time.Duration) (string, error)
}

// getChunk is the size of the messages GetObject sends. The host takes any
// size up to gRPC's 4 MiB; Velero's framework sends 16 KiB, which costs a
// message, a frame and a copy per 16 KiB. Against 256 KiB, 1 MiB made gets
// through the host about 10% faster (5 rounds in make bench: faster in 4)
// for 3 MiB more peak RSS; a download holds up to two, outside the budget.
const getChunk = 1 << 20

var getChunks = sync.Pool{New: func() any { b := make([]byte, getChunk); return &b }}

type objectStoreServer struct {
	proto.UnimplementedObjectStoreServer
	reg *registry[ObjectStore]
}

func (s *objectStoreServer) Init(_ context.Context, req *proto.ObjectStoreInitRequest) (*proto.Empty, error) {
	return call(s.reg, req.Plugin, func(impl ObjectStore) (*proto.Empty, error) {
		return &proto.Empty{}, impl.Init(req.Config)
	})
}

// PutObject hands the plugin a reader over the host's stream: the first
// message names the object, every message carries a piece of the body, and
// the end of the stream is the end of the body. A stream the host breaks
// (a cancelled backup) is a read error, so no object is completed.
func (s *objectStoreServer) PutObject(stream proto.ObjectStore_PutObjectServer) (err error) {
	defer recoverTo(s.reg.log, &err)
	first, err := stream.Recv()
	if err == io.EOF {
		// Velero's host sends the plugin, bucket and key with the first
		// piece of the body, so an empty body arrives as no message at all.
		return status.Error(codes.InvalidArgument, "PutObject: the stream ended before its first message, so it names no bucket or key (Velero's host sends none for an empty body)")
	}
	if err != nil {
		return grpcError(err)
	}
	impl, err := s.reg.get(first.Plugin)
	if err != nil {
		return err
	}
	body := &streamReader{recv: stream.Recv, buf: first.Body}
	if err := impl.PutObject(first.Bucket, first.Key, body); err != nil {
		return grpcError(err)
	}
	return grpcError(stream.SendAndClose(&proto.Empty{}))
}

// streamReader reads the bodies of a PutObject stream's messages in
// place: no copy beside the one into the caller's buffer.
type streamReader struct {
	recv func() (*proto.PutObjectRequest, error)
	buf  []byte
	err  error
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		msg, err := r.recv()
		if err != nil {
			r.err = err // io.EOF at the end of the stream
			continue
		}
		r.buf = msg.Body
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (s *objectStoreServer) GetObject(req *proto.GetObjectRequest, stream proto.ObjectStore_GetObjectServer) (err error) {
	defer recoverTo(s.reg.log, &err)
	impl, err := s.reg.get(req.Plugin)
	if err != nil {
		return err
	}
	body, err := impl.GetObject(req.Bucket, req.Key)
	if err != nil {
		return grpcError(err)
	}
	defer body.Close()
	chunk := getChunks.Get().(*[]byte)
	defer getChunks.Put(chunk)
	for {
		// Send has encoded the message into gRPC's own buffer when it
		// returns, so the chunk is free again.
		n, err := io.ReadFull(body, *chunk)
		if n > 0 {
			if err := stream.Send(&proto.Bytes{Data: (*chunk)[:n]}); err != nil {
				return grpcError(err)
			}
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return nil
		default:
			return grpcError(err)
		}
	}
}

func (s *objectStoreServer) ObjectExists(_ context.Context, req *proto.ObjectExistsRequest) (*proto.ObjectExistsResponse, error) {
	return call(s.reg, req.Plugin, func(impl ObjectStore) (*proto.ObjectExistsResponse, error) {
		exists, err := impl.ObjectExists(req.Bucket, req.Key)
		return &proto.ObjectExistsResponse{Exists: exists}, err
	})
}

func (s *objectStoreServer) ListCommonPrefixes(_ context.Context, req *proto.ListCommonPrefixesRequest) (*proto.ListCommonPrefixesResponse, error) {
	return call(s.reg, req.Plugin, func(impl ObjectStore) (*proto.ListCommonPrefixesResponse, error) {
		prefixes, err := impl.ListCommonPrefixes(req.Bucket, req.Prefix, req.Delimiter)
		return &proto.ListCommonPrefixesResponse{Prefixes: prefixes}, err
	})
}

func (s *objectStoreServer) ListObjects(_ context.Context, req *proto.ListObjectsRequest) (*proto.ListObjectsResponse, error) {
	return call(s.reg, req.Plugin, func(impl ObjectStore) (*proto.ListObjectsResponse, error) {
		keys, err := impl.ListObjects(req.Bucket, req.Prefix)
		return &proto.ListObjectsResponse{Keys: keys}, err
	})
}

func (s *objectStoreServer) DeleteObject(_ context.Context, req *proto.DeleteObjectRequest) (*proto.Empty, error) {
	return call(s.reg, req.Plugin, func(impl ObjectStore) (*proto.Empty, error) {
		return &proto.Empty{}, impl.DeleteObject(req.Bucket, req.Key)
	})
}

func (s *objectStoreServer) CreateSignedURL(_ context.Context, req *proto.CreateSignedURLRequest) (*proto.CreateSignedURLResponse, error) {
	return call(s.reg, req.Plugin, func(impl ObjectStore) (*proto.CreateSignedURLResponse, error) {
		url, err := impl.CreateSignedURL(req.Bucket, req.Key, time.Duration(req.Ttl))
		return &proto.CreateSignedURLResponse{Url: url}, err
	})
}
