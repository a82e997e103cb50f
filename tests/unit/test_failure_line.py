"""The decisive stderr line of a failed task (harness/protocol/failure_line.py)."""

from harness.protocol.failure_line import decisive_line

GLOO = """2026-11-30 06:00:01.1: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT Warning: Could not find TensorRT
terminate called after throwing an instance of 'gloo::EnforceNotMet'
  what():  [enforce fail at /tmp/horovod/third_party/gloo/gloo/transport/tcp/device.cc:88] ifa != nullptr. Unable to find address for: sb0
Aborted (core dumped)
harness.worker: RuntimeError: script bench.py exited with -6; see stderr.log
"""


def test_gloo_abort_is_quoted_not_the_exit_status():
    assert decisive_line(GLOO).endswith("Unable to find address for: sb0")
    assert decisive_line(GLOO).startswith("[enforce fail at")


def test_python_traceback_gives_the_exception_line():
    tb = ("Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n    import nope\n"
          "ModuleNotFoundError: No module named 'nope'\n")
    assert decisive_line(tb) == "ModuleNotFoundError: No module named 'nope'"
    assert decisive_line(tb + "harness.worker: RuntimeError: script x.py exited with 1: ModuleNotFoundError: "
                              "No module named 'nope'\n") == "ModuleNotFoundError: No module named 'nope'"


def test_falls_back_to_the_wrapper_then_the_last_line():
    assert decisive_line("harness.worker: ValueError: bad\n") == "harness.worker: ValueError: bad"
    assert decisive_line("something odd\nlast words\n") == "last words"
    assert decisive_line("") == ""


def test_a_silent_segfault_is_named_not_tensorflows_start_up_noise():
    tail = ("2026-11-30 06:12:57.297482: E external/local_xla/xla/stream_executor/cuda/cuda_blas.cc:1452] Unable "
            "to register cuBLAS factory: Attempting to register factory for plugin cuBLAS when one has already been "
            "registered\nSegmentation fault\n")
    assert decisive_line(tail) == "Segmentation fault"


def test_a_crashed_gloo_rank_points_at_the_hostname_check():
    from harness.stages.launch import gloo_hint
    from harness.stages.plan import Task

    rank = Task(config="c", task_id="worker-0", role="worker", index=0, rank=0, host="h", task_dir="/d",
                env={"HOROVOD_CONTROLLER": "gloo"})
    assert "harness check -e" in gloo_hint(rank, 139, "Segmentation fault")
    assert gloo_hint(rank, 134, "Unable to find address for: h") == "Unable to find address for: h"
    assert gloo_hint(rank, 1, "ValueError: x") == "ValueError: x"
    single = Task(config="c", task_id="worker-0", role="worker", index=0, rank=0, host="h", task_dir="/d")
    assert gloo_hint(single, 139, "Segmentation fault") == "Segmentation fault"
