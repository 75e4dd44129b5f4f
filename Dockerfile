# The init-container image: the plugin binary alone, which copies itself
# into /target (the emptyDir Velero's server reads as /plugins) and exits.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/velero-plugin-s3csi .

FROM scratch
COPY --from=build /out/velero-plugin-s3csi /plugins/velero-plugin-s3csi
USER 65532:65532
ENTRYPOINT ["/plugins/velero-plugin-s3csi", "install", "--target", "/target"]
