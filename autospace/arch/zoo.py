"""Hand-designed networks written as specs.

Block settings are those of torchvision's ``mobilenet_v2``, ``efficientnet_b0`` and
``mnasnet1_0``, and of ProxylessNAS' released ``proxyless_mobile`` network.
"""

from __future__ import annotations

from collections.abc import Callable

from .spec import ArchSpec, Head, MBConv, Skip, Stage, Stem


def _stages(rows, activation: str, se: bool = False) -> tuple[Stage, ...]:
    """Rows of (expansion, kernel, width, depth, first stride) -> uniform MBConv stages."""
    return tuple(Stage(width, stride, tuple(MBConv(e, k, activation, se) for _ in range(depth)))
                 for e, k, width, depth, stride in rows)


def mobilenet_v2(num_classes: int = 1000, in_channels: int = 3, resolution: int = 224,
                 width_mult: float = 1.0) -> ArchSpec:
    rows = [(1, 3, 16, 1, 1), (6, 3, 24, 2, 2), (6, 3, 32, 3, 2), (6, 3, 64, 4, 2),
            (6, 3, 96, 3, 1), (6, 3, 160, 3, 2), (6, 3, 320, 1, 1)]
    return ArchSpec("mobilenet_v2", in_channels, resolution, num_classes, Stem(32, 3, 2, "relu6"),
                    _stages(rows, "relu6"), Head(1280, "relu6", 0.2), width_mult)


def efficientnet_b0(num_classes: int = 1000, in_channels: int = 3, resolution: int = 224,
                    width_mult: float = 1.0) -> ArchSpec:
    rows = [(1, 3, 16, 1, 1), (6, 3, 24, 2, 2), (6, 5, 40, 2, 2), (6, 3, 80, 3, 2),
            (6, 5, 112, 3, 1), (6, 5, 192, 4, 2), (6, 3, 320, 1, 1)]
    return ArchSpec("efficientnet_b0", in_channels, resolution, num_classes, Stem(32, 3, 2, "swish"),
                    _stages(rows, "swish", se=True), Head(1280, "swish", 0.2), width_mult)


def mnasnet_b1(num_classes: int = 1000, in_channels: int = 3, resolution: int = 224,
               width_mult: float = 1.0) -> ArchSpec:
    """MnasNet-B1 as torchvision's ``mnasnet1_0``: its separable first layer is an e=1 MBConv."""
    rows = [(1, 3, 16, 1, 1), (3, 3, 24, 3, 2), (3, 5, 40, 3, 2), (6, 5, 80, 3, 2),
            (6, 3, 96, 2, 1), (6, 5, 192, 4, 2), (6, 3, 320, 1, 1)]
    return ArchSpec("mnasnet_b1", in_channels, resolution, num_classes, Stem(32, 3, 2, "relu"),
                    _stages(rows, "relu"), Head(1280, "relu", 0.2), width_mult)


def proxylessnas_mobile(num_classes: int = 1000, in_channels: int = 3, resolution: int = 224,
                        width_mult: float = 1.0) -> ArchSpec:
    """ProxylessNAS-mobile: 21 searched blocks (two of them skipped) after an e=1 first block."""
    def mb(e, k):
        return MBConv(e, k, "relu6")

    stages = (
        Stage(16, 1, (mb(1, 3),)),
        Stage(32, 2, (mb(3, 5), mb(3, 3), Skip(), Skip())),
        Stage(40, 2, (mb(3, 7), mb(3, 3), mb(3, 5), mb(3, 5))),
        Stage(80, 2, (mb(6, 7), mb(3, 5), mb(3, 5), mb(3, 5))),
        Stage(96, 1, (mb(6, 5), mb(3, 5), mb(3, 5), mb(3, 5))),
        Stage(192, 2, (mb(6, 7), mb(6, 7), mb(3, 7), mb(3, 7))),
        Stage(320, 1, (mb(6, 7),)),
    )
    return ArchSpec("proxylessnas_mobile", in_channels, resolution, num_classes, Stem(32, 3, 2, "relu6"),
                    stages, Head(1280, "relu6", 0.1), width_mult)


def mnasnet_a1(num_classes: int = 1000, in_channels: int = 3, resolution: int = 224,
               width_mult: float = 1.0) -> ArchSpec:
    """MnasNet-A1 (Tan et al. 2019, Fig. 7): SE (a quarter of the block input) in three stages."""
    def stage(e, k, width, depth, stride, se=False):
        return Stage(width, stride, tuple(MBConv(e, k, "relu", se) for _ in range(depth)))

    stages = (stage(1, 3, 16, 1, 1), stage(6, 3, 24, 2, 2), stage(3, 5, 40, 3, 2, True), stage(6, 3, 80, 4, 2),
              stage(6, 3, 112, 2, 1, True), stage(6, 5, 160, 3, 2, True), stage(6, 3, 320, 1, 1))
    return ArchSpec("mnasnet_a1", in_channels, resolution, num_classes, Stem(32, 3, 2, "relu"), stages,
                    Head(1280, "relu", 0.2), width_mult)


def fbnet_c(num_classes: int = 1000, in_channels: int = 3, resolution: int = 224,
            width_mult: float = 1.0) -> ArchSpec:
    """FBNet-C (Wu et al. 2019, Fig. 4), ReLU, 16-wide stem and 1984-wide head."""
    def mb(e, k):
        return MBConv(e, k, "relu")

    stages = (
        Stage(16, 1, (mb(1, 3),)),
        Stage(24, 2, (mb(6, 3), mb(1, 3), mb(1, 3))),
        Stage(32, 2, (mb(6, 5), mb(3, 5), mb(6, 5), mb(6, 3))),
        Stage(64, 2, (mb(6, 5), mb(3, 5), mb(6, 5), mb(6, 5))),
        Stage(112, 1, (mb(6, 5), mb(6, 5), mb(6, 5), mb(3, 5))),
        Stage(184, 2, (mb(6, 5), mb(6, 5), mb(6, 5), mb(6, 5))),
        Stage(352, 1, (mb(6, 3),)),
    )
    return ArchSpec("fbnet_c", in_channels, resolution, num_classes, Stem(16, 3, 2, "relu"), stages,
                    Head(1984, "relu", 0.2), width_mult)


BUILTIN: dict[str, Callable[..., ArchSpec]] = {
    "mobilenet_v2": mobilenet_v2,
    "efficientnet_b0": efficientnet_b0,
    "mnasnet_b1": mnasnet_b1,
    "proxylessnas_mobile": proxylessnas_mobile,
    "mnasnet_a1": mnasnet_a1,
    "fbnet_c": fbnet_c,
}
