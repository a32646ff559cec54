"""training/distillation.py: [R2]'s KD loss 0.25·KL(emb) + 0.25·KL(out) + 0.5·CE (SPEC §6)."""
import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import DistillationConfig, StudentConfig, TeacherConfig
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.models.student import build_student
from dcase_lowcomplexity.models.teacher import build_teacher
from dcase_lowcomplexity.training import distillation as kd

TINY_TEACHER = TeacherConfig(input_bins=16, block_widths=((4,), (8,), (8,)), embedding_dim=8)
TINY_STUDENT = StudentConfig(input_bins=16, conv_widths=(8, 16, 8), conv_kernel_sizes=(3, 3, 3),
                             embedding_dim=8)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _kl(p, q):
    return np.sum(p * np.log(p / q), axis=-1)


def _hand_loss(y, se, sz, te, tz, temperature=1.0):
    t = temperature
    emb = _kl(_softmax(te / t), _softmax(se / t)).mean() * t * t
    out = _kl(_softmax(tz / t), _softmax(sz / t)).mean() * t * t
    ce = -np.sum(y * np.log(_softmax(sz)), axis=-1).mean()
    return 0.25 * emb + 0.25 * out + 0.5 * ce, (emb, out, ce)


def test_config_has_the_report_weights():
    c = DistillationConfig()
    assert (c.embedding_weight, c.output_weight, c.ce_weight, c.temperature) == (0.25, 0.25, 0.5, 1.0)


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_loss_equals_the_formula(temperature):
    rng = np.random.default_rng(0)
    se, te = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    sz, tz = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    y = np.eye(3)[[0, 2, 1, 1, 0]] * 0.7 + 0.1  # soft (mixup-like) targets
    terms = kd.distillation_loss(y, se, sz, te, tz, DistillationConfig(temperature=temperature))
    expected, (emb, out, ce) = _hand_loss(y, se, sz, te, tz, temperature)
    assert float(terms["loss"]) == pytest.approx(expected, rel=1e-6)
    assert float(terms["embedding_kl"]) == pytest.approx(emb, rel=1e-6)
    assert float(terms["output_kl"]) == pytest.approx(out, rel=1e-6)
    assert float(terms["cross_entropy"]) == pytest.approx(ce, rel=1e-6)


def test_kl_of_identical_distributions_is_zero():
    z = np.array([[1.0, -2.0, 0.5]])
    assert float(kd.kl_divergence(z, z)[0]) == pytest.approx(0.0, abs=1e-7)


def _models(seed=0):
    keras.utils.set_random_seed(seed)
    return build_student(TINY_STUDENT), build_teacher(TINY_TEACHER)


def _batch(n=8, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 16, 12, 1)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]


def test_distiller_compute_loss_uses_both_networks():
    student, teacher = _models()
    distiller = kd.Distiller(student, teacher)
    x, y = _batch()
    y_pred = distiller(x)
    loss = float(distiller.compute_loss(x, y, y_pred, training=False))
    se, sz = (np.asarray(a) for a in kd.embedding_and_logits(student)(x))
    te, tz = (np.asarray(a) for a in kd.embedding_and_logits(teacher)(x))
    assert loss == pytest.approx(_hand_loss(y, se, sz, te, tz)[0], rel=1e-5)


def test_training_steps_reduce_the_loss_and_leave_the_teacher_alone():
    student, teacher = _models()
    teacher_before = [w.copy() for w in teacher.get_weights()]
    distiller = kd.Distiller(student, teacher)
    distiller.compile(keras.optimizers.Adam(0.01), jit_compile=False)
    x, y = _batch()
    before = distiller.evaluate(x, y, verbose=0, return_dict=True)
    history = distiller.fit(x, y, batch_size=8, epochs=25, verbose=0)
    after = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert set(history.history) >= {"loss", "embedding_kl", "output_kl", "cross_entropy",
                                     "accuracy"}
    assert after["loss"] < 0.8 * before["loss"]
    for w0, w1 in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_student_saved_alone_loads_in_safe_mode(tmp_path):
    student, teacher = _models()
    distiller = kd.Distiller(student, teacher)
    distiller.compile(keras.optimizers.Adam(0.01), jit_compile=False)
    x, y = _batch()
    distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "student.keras"
    distiller.student.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.count_params() == student.count_params()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), student.predict(x, verbose=0),
                               atol=1e-6)


def test_distiller_config_round_trip():
    student, teacher = _models()
    distiller = kd.Distiller(student, teacher, DistillationConfig(temperature=3.0))
    clone = kd.Distiller.from_config(distiller.get_config())
    assert clone.config == distiller.config
    assert clone.student.count_params() == student.count_params()


def test_embedding_sizes_must_match():
    keras.utils.set_random_seed(0)
    student = build_student(TINY_STUDENT)
    teacher = build_teacher(TeacherConfig(input_bins=16, block_widths=((4,),), embedding_dim=6))
    with pytest.raises(ConfigError, match="embedding"):
        kd.Distiller(student, teacher)
    with pytest.raises(ConfigError):
        kd.embedding_and_logits(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
