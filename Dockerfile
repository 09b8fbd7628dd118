# BackupNimbus: one image for AWS Lambda, ECS Fargate and `docker run --env-file .env IMAGE`.
# docker/entrypoint picks the mode: the Lambda runtime client when AWS_LAMBDA_RUNTIME_API is set,
# otherwise the CLI (`backupnimbus run` unless arguments are given). See docs/deploy.md.
# Build with BuildKit (`DOCKER_BUILDKIT=1`, for COPY --chmod). There is no `# syntax=` line on
# purpose: it would make BuildKit pull a frontend image, so an offline build could not start.

# The base images. The defaults are what production builds; `make image-test` passes stand-ins
# made from Debian packages (scripts/image-bases) where no registry is reachable.
ARG GO_IMAGE=golang:1.26
ARG LAMBDA_BASE_IMAGE=public.ecr.aws/lambda/python:3.12

# --- Stage 1: the MongoDB Database Tools ------------------------------------------------------
# Unusual on purpose: the tools are compiled from MongoDB's own Go module (github.com/mongodb/
# mongo-tools) by the same script `make test` uses, instead of being unpacked from MongoDB's
# release tarball. The script pins the module version and checks its go.sum hash, so the image
# runs exactly the mongodump/mongorestore the test suite exercised, and the pin is verifiable
# without downloading anything outside the package registries. docs/deploy.md ("Why the tools
# are built from source") says how to switch to the release archive with a SHA-256 you supply.
FROM ${GO_IMAGE} AS mongo-tools
WORKDIR /src
COPY scripts/build-mongo-tools scripts/build-mongo-tools
RUN MONGO_TOOLS_DIR=/out scripts/build-mongo-tools

# --- Stage 2: the Python package and its dependencies, in a virtualenv -------------------------
FROM ${LAMBDA_BASE_IMAGE} AS python-build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY backupnimbus ./backupnimbus
COPY docker/slim-venv ./slim-venv
# The package is built into a wheel first so that everything else can be required to come as a
# binary wheel (--only-binary): the base image has no compiler, and a dependency that suddenly
# needs one must fail the build here rather than pull build tools into the image.
# awslambdaric is the runtime client docker/entrypoint starts inside Lambda; its version is the
# one the RIE tests run (tests/e2e/test_lambda_rie.py).
ARG AWSLAMBDARIC_VERSION=4.2.2
RUN python3 -m venv /opt/venv \
    && python3 -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /src \
    && /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: \
        /wheels/backupnimbus-*.whl "awslambdaric==${AWSLAMBDARIC_VERSION}" \
    && /opt/venv/bin/python ./slim-venv \
    && /opt/venv/bin/pip uninstall --yes pip

# --- Stage 3: the runtime image ----------------------------------------------------------------
FROM ${LAMBDA_BASE_IMAGE}
# mongodump makes backups; mongorestore serves `restore` and test restores. bsondump is not needed.
COPY --from=mongo-tools /out/mongodump /out/mongorestore /opt/mongo-tools/
COPY --from=python-build /opt/venv /opt/venv
COPY --chmod=0755 docker/entrypoint /usr/local/bin/backupnimbus-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    MONGODUMP_PATH=/opt/mongo-tools/mongodump \
    MONGORESTORE_PATH=/opt/mongo-tools/mongorestore \
    PYTHONUNBUFFERED=1
# Not root outside Lambda (docker run, Fargate); Lambda runs its own unprivileged user anyway.
# The process writes only under /tmp (mongorestore's stderr, in an unlinked temporary file); the
# tools read their configuration from a pipe, never a file.
USER 65534:65534
# Replaces the base image's /lambda-entrypoint.sh: that one would start the bundled emulator when
# AWS_LAMBDA_RUNTIME_API is unset, whereas this image runs the CLI there.
ENTRYPOINT ["/usr/local/bin/backupnimbus-entrypoint"]
CMD ["run"]
