import numpy as np
from PIL import Image

from mribench import images


def test_datasets_larger_than_the_memory_share_go_to_a_file_cache(tmp_path, monkeypatch):
    for i, mode in enumerate(["RGB", "L", "RGB"]):
        Image.new(mode, (30, 20), color=(i * 50, 0, 0) if mode == "RGB" else 200).save(tmp_path / f"{i}.jpg")
    paths = [f"{i}.jpg" for i in range(3)]
    in_memory = images.load_images(tmp_path, paths, 16, cache_dir=tmp_path / "cache")
    assert type(in_memory) is np.ndarray and in_memory.shape == (3, 16, 16, 3)
    monkeypatch.setattr(images, "MEMORY_SHARE", 0)
    cached = images.load_images(tmp_path, paths, 16, cache_dir=tmp_path / "cache")
    assert isinstance(cached, np.memmap)
    np.testing.assert_array_equal(cached, in_memory)
    assert list((tmp_path / "cache").iterdir()) == []  # nothing left behind on disk
