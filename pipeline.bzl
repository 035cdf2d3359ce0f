"""Public API of rules_sematic.

    load("@rules_sematic//:pipeline.bzl", "sematic_pipeline")

WORKSPACE users call `base_images()` from `@rules_sematic//:repositories.bzl` in their WORKSPACE.
"""

load("//:repositories.bzl", _base_images = "base_images")
load("//private:base.bzl", _sematic_base_image = "sematic_base_image")
load("//private:image.bzl", _sematic_image = "sematic_image")
load("//private:index.bzl", _sematic_image_index = "sematic_image_index")
load("//private:layer.bzl", _sematic_layer = "sematic_layer")
load("//private:load.bzl", _sematic_load = "sematic_load")
load("//private:pipeline.bzl", _sematic_pipeline = "sematic_pipeline")
load("//private:push.bzl", _sematic_push = "sematic_push")

# buildifier: disable=unnamed-macro
def base_images():
    """The bases of //images and rules_sematic's own repositories (WORKSPACE).

    Sematic's own pipeline.bzl exported it from here; this keeps such WORKSPACE files working.

    Deprecated:
      Load `base_images` from `@rules_sematic//:repositories.bzl`.
    """

    # buildifier: disable=print
    print("rules_sematic: load base_images from @rules_sematic//:repositories.bzl; its re-export from pipeline.bzl will go")
    _base_images()

sematic_base_image = _sematic_base_image
sematic_image = _sematic_image
sematic_image_index = _sematic_image_index
sematic_layer = _sematic_layer
sematic_load = _sematic_load
sematic_pipeline = _sematic_pipeline
sematic_push = _sematic_push
