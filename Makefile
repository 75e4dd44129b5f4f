# velero-plugin-s3csi. `make demo` and `make test` are the quick start.
BIN      := velero-plugin-s3csi
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
OUT      := _output
GO       ?= go
IMAGE    ?= velero-plugin-s3csi:$(VERSION)

.PHONY: build tools test compat e2e bench reliability demo lint image push clean

build: ## the plugin binary, static
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(OUT)/$(BIN) .

tools: ## MinIO, versitygw, the GCE PD CSI driver and csi-sanity, pinned, built once into the tool cache; Debian's age, minisign and buildah
	bash hack/tool.sh minio versitygw csidriver csi-sanity age minisign buildah >/dev/null

test: tools ## every test, against real S3 servers and Velero's plugin host
	$(GO) test -count=1 -timeout 40m ./...

compat: ## the built plugin loaded by each Velero release's own host (hack/compat/v1.14 .. v1.18), against MinIO and the CSI driver: one table, fails on any red cell
	bash hack/tool.sh minio csidriver >/dev/null
	$(GO) run ./hack/compat

e2e: ## a backup, restore and backup deletion through Velero's own server on a local etcd + kube-apiserver
	bash hack/tool.sh minio csidriver etcd kube velero age minisign >/dev/null
	$(GO) test -tags e2e -count=1 -v -timeout 60m -run . ./e2e

bench: ## throughput and peak memory, printed as a table
	bash hack/tool.sh minio csidriver velero-plugin-for-aws minisign >/dev/null
	$(GO) run ./hack/bench

reliability: ## the fault suite through Velero's host (S3 faults, kill -9, MinIO restart, truncation, concurrency, CSI relay restarts), fuzzing, one table
	bash hack/tool.sh minio csidriver >/dev/null
	$(GO) run ./hack/reliability

demo: ## a backup-shaped upload, list, signed download and delete through Velero's host
	bash hack/tool.sh minio >/dev/null
	$(GO) run ./hack/demo

image: ## the init-container image, linux/amd64 and linux/arm64, as an OCI archive in _output/ (hack/image; no container engine)
	$(GO) run ./hack/image --out $(OUT)/image.tar --version $(VERSION) --go $(GO)

push: ## `make push IMAGE=registry/name:tag` uploads that archive, with the docker config file's credentials
	$(GO) run ./hack/image push --archive $(OUT)/image.tar $(IMAGE)

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)
	$(GO) vet ./...
	cd internal/conformance && $(GO) vet ./...

clean:
	rm -rf $(OUT)
