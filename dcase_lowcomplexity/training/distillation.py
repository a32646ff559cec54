"""Knowledge distillation of [R2]'s student CNN from the VGG-12 teacher (SPEC §6).

Loss per example, with s/t the student/teacher, e their 512-d embeddings, z their logits,
y the (possibly mixup-soft) target and T the temperature (1 in [R2]):

    L = 0.25 · T² · KL(softmax(e_t / T) ‖ softmax(e_s / T))
      + 0.25 · T² · KL(softmax(z_t / T) ‖ softmax(z_s / T))
      + 0.50 · CE(y, softmax(z_s))

The weights and T live in `DistillationConfig`; the T² factor (Hinton et al.) keeps the
gradients of the KL terms at the same scale for any T and is 1 for [R2]'s formula.

`Distiller` is a `keras.Model` whose `call` runs the student and whose `compute_loss`
(Keras 3) runs the frozen teacher in inference mode and combines the three terms; it logs
each term and the student's accuracy. Both networks must expose layers named "embedding" and
"logits" (`models.student`, `models.teacher`). After training, save `distiller.student`
alone: it is an ordinary Keras model of built-in layers and loads with `safe_mode=True`.
"""
from __future__ import annotations

import keras
from keras import ops

from dcase_lowcomplexity.config import DistillationConfig
from dcase_lowcomplexity.errors import ConfigError

PACKAGE = "dcase_lowcomplexity"


def embedding_and_logits(model: keras.Model) -> keras.Model:
    """A view of `model` returning (embedding, logits), sharing its layers and weights."""
    try:
        outputs = [model.get_layer("embedding").output, model.get_layer("logits").output]
    except ValueError:
        raise ConfigError(
            f"model {model.name!r} has no layers named 'embedding' and 'logits'",
            fix="build it with models.student / models.teacher",
        ) from None
    return keras.Model(model.input, outputs, name=f"{model.name}_heads")


def kl_divergence(teacher_logits, student_logits, temperature: float = 1.0):
    """Per-example KL(softmax(teacher / T) ‖ softmax(student / T))."""
    log_p = ops.log_softmax(teacher_logits / temperature, axis=-1)
    log_q = ops.log_softmax(student_logits / temperature, axis=-1)
    return ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)


def distillation_loss(y, student_embedding, student_logits, teacher_embedding, teacher_logits,
                      config: DistillationConfig | None = None, sample_weight=None) -> dict:
    """The three terms of [R2]'s loss and their weighted sum, averaged over the batch."""
    config = config or DistillationConfig()
    t = config.temperature
    per_example = {
        "embedding_kl": kl_divergence(teacher_embedding, student_embedding, t) * t * t,
        "output_kl": kl_divergence(teacher_logits, student_logits, t) * t * t,
        "cross_entropy": -ops.sum(
            ops.cast(y, student_logits.dtype) * ops.log_softmax(student_logits, axis=-1), axis=-1
        ),
    }
    if sample_weight is None:
        terms = {k: ops.mean(v) for k, v in per_example.items()}
    else:
        w = ops.cast(ops.reshape(sample_weight, (-1,)), student_logits.dtype)
        terms = {k: ops.sum(v * w) / ops.maximum(ops.sum(w), 1e-12)
                 for k, v in per_example.items()}
    terms["loss"] = (config.embedding_weight * terms["embedding_kl"]
                     + config.output_weight * terms["output_kl"]
                     + config.ce_weight * terms["cross_entropy"])
    return terms


@keras.saving.register_keras_serializable(package=PACKAGE)
class Distiller(keras.Model):
    """Trains `student` against `teacher` (frozen) with [R2]'s loss; `call` = student heads."""

    def __init__(self, student: keras.Model, teacher: keras.Model,
                 config: DistillationConfig | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config or DistillationConfig()
        self.student, self.teacher = student, teacher
        self.teacher.trainable = False
        self.student_heads = embedding_and_logits(student)
        self.teacher_heads = embedding_and_logits(teacher)
        s_dim = self.student_heads.outputs[0].shape[-1]
        t_dim = self.teacher_heads.outputs[0].shape[-1]
        if s_dim != t_dim:
            raise ConfigError(
                f"student embedding is {s_dim}-d but the teacher's is {t_dim}-d",
                fix="give StudentConfig.embedding_dim the teacher's embedding_dim",
            )
        self.term_trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("embedding_kl", "output_kl", "cross_entropy")
        }
        self.accuracy_tracker = keras.metrics.CategoricalAccuracy(name="accuracy")

    def call(self, x, training=False):
        embedding, logits = self.student_heads(x, training=training)
        return {"embedding": embedding, "logits": logits}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        teacher_embedding, teacher_logits = self.teacher_heads(x, training=False)
        terms = distillation_loss(y, y_pred["embedding"], y_pred["logits"], teacher_embedding,
                                  teacher_logits, self.config, sample_weight)
        for name, tracker in self.term_trackers.items():
            tracker.update_state(terms[name])
        loss = terms["loss"]
        if training and self.losses:  # the student's regularisers, if any
            loss = loss + ops.sum(ops.stack(self.losses))
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.accuracy_tracker.update_state(y, ops.softmax(y_pred["logits"]))
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "config": self.config.__dict__.copy(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        student = keras.saving.deserialize_keras_object(config.pop("student"))
        teacher = keras.saving.deserialize_keras_object(config.pop("teacher"))
        distill = DistillationConfig(**config.pop("config"))
        return cls(student, teacher, distill, **config)
