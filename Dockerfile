# distill's own image, built by distill (scripts/image.sh makes the bases and the wheelhouse).
# The builder installs distill and its dependencies into a virtual environment from the
# wheelhouse in wheels/ (no network during the build); the image is a Debian base with what
# RUN steps need (runc; uidmap and passt for a user other than root; iproute2 and nftables
# for the private network) and that environment, nothing else.

ARG BUILD_BASE=localhost/debian/python-build:bookworm
ARG RUN_BASE=localhost/debian/distill-run:bookworm

FROM ${BUILD_BASE} AS builder
ARG SOURCE_DATE_EPOCH
COPY wheels/ /wheels/
RUN python3 -m venv /opt/distill \
 && /opt/distill/bin/pip install --no-cache-dir --no-index --find-links=/wheels -r /wheels/requirements.txt

# A build runs as root of the container (or of a user namespace of its own): USER is the caller's.
# distill ignore=runs-as-root
FROM ${RUN_BASE}
COPY --from=builder /opt/distill /opt/distill
ENV PATH=/opt/distill/bin:$PATH
WORKDIR /work
HEALTHCHECK NONE
ENTRYPOINT ["distill"]
CMD ["--help"]
