# authd: a static binary on distroless, running as a non-root user.
#   docker build -t authd --build-arg AUTHD_VERSION=$(git describe --tags --always --dirty) .
#   docker run --rm -e AUTHD_DATABASE_URL=... -e AUTHD_SECRETS_MASTER_KEY=... authd
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git stays out of the context, so the version `authd --version` prints
# comes from this argument.
ARG AUTHD_VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.releaseVersion=${AUTHD_VERSION}" -o /out/authd ./cmd/authd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/authd /usr/local/bin/authd
# The embedded default (no database.url) keeps SQLite and its generated
# master key here; production sets AUTHD_DATABASE_URL and
# AUTHD_SECRETS_MASTER_KEY instead.
WORKDIR /home/nonroot
ENV AUTHD_DATA_DIR=/home/nonroot/data \
    AUTHD_HTTP_ADDR=0.0.0.0:8080
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/authd"]
CMD ["serve"]
