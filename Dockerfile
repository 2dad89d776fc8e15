# The container image the compiled Kubeflow / Vertex pipeline runs (`c2al pipeline compile
# --image IMG`; default name c2al-tf:latest). Base: the official TFX image of the same TFX
# release as constraints.txt (Python 3.10, Beam and TensorFlow preinstalled); this package and
# the rest of the locked stack install on top from constraints.txt, so the image runs exactly
# the versions the tests run. tests/test_dockerfile.py checks that the pins agree.
#
#   docker build -t REGISTRY/c2al-tf:0.1.0 .
#   docker push REGISTRY/c2al-tf:0.1.0
#   c2al pipeline compile --target kubeflow --out pipeline.json --image REGISTRY/c2al-tf:0.1.0 \
#       --data gs://BUCKET/data --label click --root gs://BUCKET/c2al
FROM tensorflow/tfx:1.16.0

# Keras 2 (tf-keras) for every process in the container, before any TensorFlow import
ENV TF_USE_LEGACY_KERAS=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /c2al
COPY constraints.txt setup.py README.md ./
COPY c2al_tf ./c2al_tf
COPY components ./components
COPY pipeline ./pipeline
COPY schemas ./schemas
RUN python -m pip install --no-cache-dir -c constraints.txt ".[kubeflow]" \
 && python -c "import c2al_tf, pipeline.trainer_module, components.cohort_miner; print('c2al-tf', c2al_tf.__version__)"

# TFX's container entrypoint (the base image's) runs each component; `c2al` is on PATH too.
