import os

# Every TensorFlow process in the tests uses Keras 2 (tf_keras), as the harness does.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest_plugins = ["tests.sshd_hosts", "tests.netns_hosts", "tests.aws_fixtures"]
