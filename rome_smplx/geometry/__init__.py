"""Pure tensor geometry: rotations, harmonic encoding, mesh normals/Laplacian/Umeyama."""

from rome_smplx.geometry.harmonic import harmonic_channels, harmonic_encoding, harmonic_frequencies  # noqa: F401
from rome_smplx.geometry.mesh import (  # noqa: F401
    boundary_loops,
    edges,
    face_normals,
    laplacian_apply,
    umeyama,
    uniform_laplacian,
    vertex_normals,
)
from rome_smplx.geometry.rotations import (  # noqa: F401
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    cont6d_to_matrix,
    euler_xyz_to_matrix,
    flip_pose,
    matrix_to_axis_angle,
    matrix_to_cont6d,
    matrix_to_euler_xyz,
    matrix_to_quaternion,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
)
