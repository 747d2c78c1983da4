"""Data: the datasets (Fashion-MNIST in memory, ImageFolders streamed), the data step of a run,
and the seeded, resumable DataLoader pipeline."""
