"""Import-time behaviour of the c2al_tf package."""
import os
import subprocess
import sys


def _run(code, env=None):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_import_sets_legacy_keras_and_keeps_user_log_level():
    out = _run("import os, c2al_tf; print(os.environ['TF_USE_LEGACY_KERAS'], os.environ['TF_CPP_MIN_LOG_LEVEL'], "
               "c2al_tf.USER_TF_LOG_LEVEL)", env={"TF_CPP_MIN_LOG_LEVEL": "1"})
    assert out.stdout.split() == ["1", "1", "1"]


def test_only_tf_teardown_noise_is_silenced():
    code = ("import c2al_tf\n"
            "class AtomicFunction:\n"
            "    def __del__(self): raise TypeError('teardown')\n"
            "class Other:\n"
            "    def __del__(self): raise TypeError('real problem')\n"
            "a = AtomicFunction(); del a\n"
            "o = Other(); del o\n")
    err = _run(code).stderr
    assert "teardown" not in err
    assert "real problem" in err and "Other.__del__" in err


def test_the_public_api_resolves_and_import_stays_light():
    """Every name in c2al_tf.__all__ imports; `import c2al_tf` alone loads no TensorFlow."""
    out = _run("import sys, c2al_tf; light = 'tensorflow' not in sys.modules\n"
               "missing = [n for n in c2al_tf.__all__ if getattr(c2al_tf, n, None) is None]\n"
               "print(light, missing)")
    assert out.stdout.split() == ["True", "[]"], out.stderr[-2000:]
