"""c2al-tf: Cohort-Contrastive Auxiliary Learning for TensorFlow/Keras and TFX."""
from setuptools import find_packages, setup

# The full stack is locked in constraints.txt (pip install -c constraints.txt -e .);
# the pins below are the ones the package itself depends on (TFX 1.16 needs Python 3.10; see the README).
INSTALL_REQUIRES = [
    "tfx==1.16.0",
    "apache-beam[gcp]==2.59.0",
    "tensorflow==2.16.2",
    "tf-keras==2.16.0",
    "tensorflow-data-validation==1.16.1",
    "tensorflow-model-analysis==0.47.1",
    "tensorflow-recommenders==0.7.7",
    "numpy==1.26.4",
    "protobuf==3.20.3",
    "pandas==1.5.3",
    "scipy==1.12.0",
    "tqdm",
    "jsonschema",
    "matplotlib",
    "psutil",
    "google-crc32c",   # TFRecord framing in c2al_tf.data.records (also a dependency of apache-beam[gcp])
]

setup(
    name="c2al-tf",
    version="0.1.0",
    description="Cohort-Contrastive Auxiliary Learning (C2AL) for ranking models, TF/Keras + TFX",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9,<3.11",
    packages=find_packages(include=["c2al_tf", "c2al_tf.*", "components", "components.*", "pipeline", "pipeline.*"]),
    package_data={"c2al_tf": ["schemas/*.json"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest", "pytest-xdist"],
        "kubeflow": ["kfp==2.0.1", "kfp-pipeline-spec==0.2.2"],
        # benchmarks against other slice finders (bench/slice_anchors.py); 0.2.15 is the last
        # release that accepts the scikit-learn 1.5 TFX 1.16 pins
        "bench": ["sliceline==0.2.15"],
    },
    entry_points={"console_scripts": ["c2al=c2al_tf.cli:main"]},
)
