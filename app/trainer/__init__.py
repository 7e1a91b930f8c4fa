"""The Train tab: fine-tuning from the GUI, with the training itself in a child process.

- `TrainerTab` (trainer_tab.py): the self-contained widget the main window adds.
- `TrainProcess`, `TrainSettings`, `JsonLineParser` (train_process.py): the QProcess wrapper
  around `stemdeck train --progress json`.
- `DatasetCheck`, `DatasetReportView` (dataset_report.py): the dataset checker's report.
"""

from .dataset_report import DatasetCheck, DatasetReportView
from .train_process import JsonLineParser, TrainProcess, TrainSettings
from .trainer_tab import TrainerTab

__all__ = ["TrainerTab", "TrainProcess", "TrainSettings", "JsonLineParser", "DatasetCheck",
           "DatasetReportView"]
