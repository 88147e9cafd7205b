"""The MLflow model's code (models-from-code): ``serving.log_member_model`` logs this file, and loading
the model runs it. No pickled objects: the model is this code, its config and the checkpoint artifact."""

from mlflow.models import set_model

from mcdropout.tracking.serving import MCDropoutModel

set_model(MCDropoutModel())
