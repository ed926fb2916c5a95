"""Run inside a Python that has Blender's ``bpy`` module: import a GLB, report, pose, re-export, render.

Usage: ``python blender_probe.py REQUEST.json`` with keys

* ``glb``: the file to import;
* ``out``: an ``.npz`` to write (``rest`` (N, 3) and, with ``pose``, ``posed`` (N, 3) vertex positions
  in glTF's y-up frame, in the imported mesh's vertex order) and ``out + ".json"`` (the report);
* ``pose``: optional ``.npz`` with ``names`` (J,) and ``skinning`` (J, 4, 4): for each joint the
  glTF-frame skinning matrix ``G_j IBM_j`` to set on the pose bones;
* ``frame``: optional animation frame to evaluate instead (the imported action at that frame);
* ``reexport``: optional ``.glb`` path to export the scene to again;
* ``render``: optional ``.png`` path for a Cycles (CPU) render of the imported scene.

Blender imports glTF's y-up as z-up by ``(x, y, z) -> (x, -z, y)``; the report converts back.
"""

from __future__ import annotations

import json
import sys

import bpy
import numpy as np
from mathutils import Matrix, Vector

# glTF (y up) -> Blender (z up)
C = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
C_INV = np.linalg.inv(C)


def _objects():
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    meshes = [o for o in bpy.data.objects if o.type == "MESH" and any(m.type == "ARMATURE" for m in o.modifiers)]
    return arms, meshes


def _world_coords(obj, evaluated: bool) -> np.ndarray:
    if evaluated:
        dg = bpy.context.evaluated_depsgraph_get()
        ev = obj.evaluated_get(dg)
        me = ev.to_mesh()
        co = np.array([list(obj.matrix_world @ v.co) for v in me.vertices])
        ev.to_mesh_clear()
    else:
        co = np.array([list(obj.matrix_world @ v.co) for v in obj.data.vertices])
    return co @ C_INV[:3, :3].T


def _set_pose(arm, mesh, names, skinning) -> None:
    """Bones posed by glTF-frame skinning matrices; the animation and every shape key switched off."""
    arm.animation_data_clear()
    keys = mesh.data.shape_keys
    if keys is not None:
        keys.animation_data_clear()
        for k in keys.key_blocks[1:]:
            k.value = 0.0
    world = np.array(arm.matrix_world)
    world_inv = np.linalg.inv(world)
    for name, A in zip(names, skinning):  # the joint order lists parents first
        pb = arm.pose.bones[str(name)]
        A_b = C @ A @ C_INV  # the skinning matrix in Blender's world frame
        pb.matrix = Matrix((world_inv @ A_b @ world @ np.array(pb.bone.matrix_local)).tolist())
        bpy.context.view_layer.update()


def _render(path: str) -> None:
    """Cycles on the CPU (works headless, without a GPU context), a sun and a bright sky."""
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 32
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = 600, 800
    scene.render.film_transparent = False
    scene.view_settings.view_transform = "Standard"  # the texture's colours as they are (not AgX's tone curve)
    world = bpy.data.worlds.new("sky")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs[0].default_value = (1.0, 1.0, 1.0, 1.0)
    world.node_tree.nodes["Background"].inputs[1].default_value = 0.8
    scene.world = world
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = 2.5
    sun.rotation_euler = (0.9, 0.0, 0.5)
    scene.collection.objects.link(sun)
    _, meshes = _objects()
    co = np.concatenate([_world_coords(m, True) for m in meshes]) @ C[:3, :3].T  # Blender frame
    lo, hi = co.min(0), co.max(0)
    centre = (lo + hi) / 2
    cam_data = bpy.data.cameras.new("camera")
    cam_data.lens = 50
    cam = bpy.data.objects.new("camera", cam_data)
    scene.collection.objects.link(cam)
    height = float(hi[2] - lo[2])
    dist = float(0.5 * height / np.tan(cam_data.angle_y / 2) + float(hi[1] - lo[1]) / 2)
    direction = Vector((0.35, -1.0, 0.12)).normalized()  # in front (-y in Blender), a little to the side
    cam.location = Vector(centre.tolist()) + dist * direction
    cam.rotation_euler = (Vector(centre.tolist()) - cam.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)


def main(request_path: str) -> None:
    req = json.load(open(request_path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=req["glb"])
    arms, meshes = _objects()
    report = {
        "armatures": len(arms),
        "skinned_meshes": len(meshes),
        "bones": [b.name for b in arms[0].data.bones] if arms else [],
        "bone_parents": {b.name: (b.parent.name if b.parent else None) for b in arms[0].data.bones} if arms else {},
        "vertex_groups": [g.name for g in meshes[0].vertex_groups] if meshes else [],
        "shape_keys": [k.name for k in meshes[0].data.shape_keys.key_blocks]
        if meshes and meshes[0].data.shape_keys else [],
        "vertices": len(meshes[0].data.vertices) if meshes else 0,
        "actions": [a.name for a in bpy.data.actions],
        "images": [i.name for i in bpy.data.images],
    }
    arrays = {}
    if meshes:
        mesh = meshes[0]
        arrays["rest"] = _world_coords(mesh, False)
        if "frame" in req:
            bpy.context.scene.frame_set(int(req["frame"]))
            arrays["posed"] = _world_coords(mesh, True)
        if "pose" in req:
            p = np.load(req["pose"])
            _set_pose(arms[0], mesh, list(p["names"]), p["skinning"])
            arrays["posed"] = _world_coords(mesh, True)
        if "weights" in req:  # vertex group weights, dense (N, bones in order)
            names = [b.name for b in arms[0].data.bones]
            W = np.zeros((len(mesh.data.vertices), len(names)))
            gi = {g.index: names.index(g.name) for g in mesh.vertex_groups if g.name in names}
            for v in mesh.data.vertices:
                for g in v.groups:
                    if g.group in gi:
                        W[v.index, gi[g.group]] = g.weight
            arrays["weights"] = W
    if "render" in req:
        _render(req["render"])
        report["render"] = req["render"]
    if "reexport" in req:
        bpy.ops.export_scene.gltf(filepath=req["reexport"], export_format="GLB", export_skins=True,
                                  export_morph=True, export_animations=True)
        report["reexport"] = req["reexport"]
    np.savez(req["out"], **arrays)
    with open(req["out"] + ".json", "w") as fh:
        json.dump(report, fh)


if __name__ == "__main__":
    main(sys.argv[1])
