"""Public providers of rules_sematic: what its targets return, for rules of other rule sets.

    load("@rules_sematic//:providers.bzl", "SematicImageInfo")

A rule that takes a rules_sematic image reads its layout and digest from `SematicImageInfo`;
one that makes a base for rules_sematic returns `SematicBaseInfo` (or just an OCI layout
directory as its only output).
"""

load("//private:layer.bzl", _SematicLayerInfo = "SematicLayerInfo")
load("//private:piece.bzl", _SematicPieceInfo = "SematicPieceInfo")
load(
    "//private:providers.bzl",
    _SematicBaseInfo = "SematicBaseInfo",
    _SematicImageInfo = "SematicImageInfo",
    _SematicPushInfo = "SematicPushInfo",
)
load("//private/pypi:library.bzl", _SematicWheelInfo = "SematicWheelInfo")

SematicBaseInfo = _SematicBaseInfo
SematicImageInfo = _SematicImageInfo
SematicLayerInfo = _SematicLayerInfo
SematicPieceInfo = _SematicPieceInfo
SematicPushInfo = _SematicPushInfo
SematicWheelInfo = _SematicWheelInfo
