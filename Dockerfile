# syntax=docker/dockerfile:1
# BackupNimbus as a Lambda container image (first cut; see README "Deploy").

# The Database Tools are built from MongoDB's own Go module with the same script `make` uses,
# so the image runs exactly the mongodump the test suite exercised.
FROM golang:1.23-bookworm AS tools
WORKDIR /src
COPY scripts/build-mongo-tools scripts/build-mongo-tools
RUN MONGO_TOOLS_DIR=/out scripts/build-mongo-tools

FROM public.ecr.aws/lambda/python:3.12 AS app
COPY --from=tools /out/mongodump /out/mongorestore /opt/mongo-tools/
COPY pyproject.toml README.md ${LAMBDA_TASK_ROOT}/src/
COPY backupnimbus ${LAMBDA_TASK_ROOT}/src/backupnimbus
RUN pip install --no-cache-dir "${LAMBDA_TASK_ROOT}/src" --target "${LAMBDA_TASK_ROOT}" \
    && rm -rf "${LAMBDA_TASK_ROOT}/src"
ENV MONGODUMP_PATH=/opt/mongo-tools/mongodump \
    MONGORESTORE_PATH=/opt/mongo-tools/mongorestore
CMD ["backupnimbus.entrypoints.lambda_handler.handler"]
