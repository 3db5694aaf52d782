"""Watching a skill: a trained policy (or a clip played kinematically) with its reference ghost.

* mimic.rebuild turns a checkpoint (or a clip) into the agent and env to watch.
* :class:`Player` steps the env (policy mean actions, or none in kinematic playback), restarts
  episodes when they end and poses the reference ghost, overlaid or beside the character.
* :func:`record_video` writes a headless video (TinyRenderer, no display / GPU needed) at the
  motion's real-time rate; :func:`run_gui` opens the pybullet window with a following camera and
  keys (pause, step, reset, ghost, slow motion).

All pybullet calls are in mimic.sim.camera / mimic.sim.world / mimic.sim.character.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mimic.sim.link_state import BODY_POS, JOINT_POS

GHOST_MODES = ("overlay", "beside", "off")
GHOST_RGB = (1.0, 0.55, 0.15)
GHOST_ALPHA = 0.4
VIDEO_EXTS = (".mp4", ".gif", ".mov", ".mkv", ".avi", ".webm")


class ViewerError(Exception):
    """A user-facing problem with what to draw (a video format, a frame count): one line."""


# ==================================================================================== playback
class Player:
    """Steps an imitation env with a policy (or kinematically), episode after episode, and poses
    the reference ghost.

    ``ghost``: an object with ``set_state(root_pos, root_rot, local_rot, hinge)`` (or None);
    ``ghost_mode`` 'overlay' (on the character), 'beside' (``ghost_offset`` metres along
    ``beside_dir``) or 'off'. After a fall the policy keeps acting for ``fall_hold`` seconds so the
    fall is visible, then a new episode starts; clip ends and time limits restart at once.
    """

    def __init__(self, env, agent=None, start_time: float = 0.0, fall_hold: float = 0.5, seed: int = 0):
        self.env = env
        self.u = env.unwrapped
        self.agent = agent
        self.start_time = float(start_time)
        self.fall_hold = float(fall_hold)
        self.seed = int(seed)
        self.ghost = None
        self.ghost_mode = "overlay"
        self.ghost_offset = 1.5
        self.beside_dir = np.array([1.0, 0.0, 0.0])
        self.episodes = 0  # episodes started
        self.obs = None
        self.zero_action = None

    # -- episodes
    def reset(self):
        opts = {"time": self.start_time} if self.start_time is not None else None
        self.obs, info = self.env.reset(seed=self.seed + self.episodes, options=opts)
        self.episodes += 1
        self.episode_return = 0.0
        self.episode_steps = 0
        self.reward = 0.0
        self.fallen = False
        self.hold = 0
        self.phase = float(info.get("phase", 0.0))
        self.just_reset = True
        self.update_ghost()
        return self.obs

    def action(self):
        if self.agent is None:
            if self.zero_action is None:
                self.zero_action = np.zeros(self.env.action_space.shape, np.float32)
            return self.zero_action
        return self.agent.predict(self.obs, deterministic=True)[0]

    def step(self):
        """One control step; starts a new episode when the current one is over."""
        if self.obs is None:
            return self.reset()
        self.just_reset = False
        if self.hold > 0:  # after a fall: keep going, then restart
            self.hold -= 1
            self.obs, _, _, _, info = self.env.step(self.action())
            self.phase = float(info.get("phase", self.phase))
            self.update_ghost()
            if self.hold == 0:
                self.reset()
            return self.obs
        self.obs, r, terminated, truncated, info = self.env.step(self.action())
        self.reward = float(r)
        self.episode_return += self.reward
        self.episode_steps += 1
        self.phase = float(info.get("phase", 0.0))
        self.update_ghost()
        if terminated or truncated:
            if info.get("fallen") and self.fall_hold > 0:
                self.fallen = True
                self.hold = max(1, int(round(self.fall_hold / self.u.control_dt)))
            else:
                self.reset()
        return self.obs

    # -- ghost
    def fit_beside(self, direction):
        """Set the beside direction and an offset that clears the character's extent along it
        (1.5 m for the humanoid seen from the side, more for the long dog)."""
        self.beside_dir = np.asarray(direction, np.float64)
        p = self.u.sim.query()[:, JOINT_POS] @ self.beside_dir
        self.ghost_offset = float(max(1.2, p.max() - p.min() + 0.9))

    def ghost_position(self, root_pos):
        if self.ghost_mode == "beside":
            return root_pos + self.ghost_offset * self.beside_dir
        return root_pos

    def update_ghost(self):
        if self.ghost is None or self.ghost_mode == "off":
            return
        root_pos, local_rot, hinge = self.u.reference_state()
        self.ghost.set_state(self.ghost_position(root_pos), local_rot[0], local_rot, hinge)

    # -- read-outs
    @property
    def time(self) -> float:
        return float(self.u.time)

    def root_position(self) -> np.ndarray:
        from mimic.sim.camera import body_position

        return body_position(self.u.world, self.u.sim.body)

    def camera_target(self) -> np.ndarray:
        """The centre of the character's bounding box (the dog's root is at its hips, a metre
        behind its head), or between it and a beside ghost, so both stay in view."""
        p = character_box(self.u)[0]
        if self.ghost is not None and self.ghost_mode == "beside":
            p = p + 0.5 * self.ghost_offset * self.beside_dir
        return p

    def status(self) -> str:
        s = f"t {self.time:6.2f} s   phase {self.phase:.2f}"
        if not self.u.kinematic:
            s += f"   reward {self.reward:.2f}   return {self.episode_return:6.1f}"
        if self.fallen:
            s += "   FALLEN"
        return s


FRAME_SPAN = 1.9  # the view's height is FRAME_SPAN times the character's largest side


def character_box(u):
    """(centre [3], largest side in metres) of the character's bounding box: its joints and
    body centres, plus 0.3 m for the bodies' own radii."""
    st = u.sim.query()
    pts = np.concatenate([st[:, BODY_POS], st[:, JOINT_POS]])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return 0.5 * (lo + hi), float((hi - lo).max() + 0.3)


def camera_distance(u, fov: float = 45.0) -> float:
    """A camera distance that frames the whole character from its size: ~4.2 m for the standing
    humanoid, ~3.3 m for the dog."""
    size = character_box(u)[1]
    return float(np.clip(FRAME_SPAN * size / (2.0 * math.tan(math.radians(fov) / 2)), 1.5, 8.0))


# ==================================================================================== video
def open_writer(path, fps: float, width: int, height: int):
    """An imageio writer for .mp4 / .mov / .mkv / .avi / .webm (ffmpeg) or .gif (Pillow)."""
    import imageio.v2 as iio

    ext = Path(path).suffix.lower()
    if ext not in VIDEO_EXTS:
        raise ViewerError(f"video '{path}': unknown format '{ext or '(none)'}' (use one of {', '.join(VIDEO_EXTS)})")
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    if ext == ".gif":
        return iio.get_writer(path, mode="I", duration=1000.0 / fps, loop=0)
    if ext != ".webm" and (width % 2 or height % 2):
        raise ViewerError(
            f"video '{path}': {ext} (H.264, yuv420p) needs an even width and height, not {width}x{height}"
        )
    codec = "libvpx-vp9" if ext == ".webm" else "libx264"
    return iio.get_writer(
        path, fps=fps, codec=codec, quality=7, macro_block_size=1, pixelformat="yuv420p", ffmpeg_log_level="error"
    )


def draw_text(frame: np.ndarray, text: str) -> np.ndarray:
    """``text`` in the top-left corner of an RGB frame (Pillow's built-in font)."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:  # pragma: no cover - Pillow comes with imageio
        return frame
    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    x = y = max(2, frame.shape[0] // 80)
    draw.text((x + 1, y + 1), text, fill=(255, 255, 255))
    draw.text((x, y), text, fill=(20, 20, 20))
    return np.asarray(img)


def record_video(
    player: Player,
    path,
    seconds: float,
    fps: float = 30.0,
    width: int = 640,
    height: int = 480,
    ghost_mode: str = "overlay",
    text: bool = True,
    shadows: bool = False,
    progress: bool = True,
    camera=None,
) -> dict:
    """Write ``round(seconds * fps)`` frames of the player's skill to ``path``, in simulated real
    time: frame k shows the state nearest to k / fps seconds after the start (frames are
    repeated or skipped when fps differs from the control rate). Returns a summary dict."""
    from mimic.sim.camera import FollowCamera, GhostWorld, scene_renderer

    u = player.u
    if fps <= 0 or seconds <= 0:
        raise ViewerError("--fps and --seconds must be positive")
    n_frames = int(round(seconds * fps))
    if n_frames < 1:
        raise ViewerError(f"{seconds} s at {fps} fps is no frame at all")
    writer = open_writer(path, fps, width, height)
    ghost_world = None
    bar = tqdm(
        total=n_frames, desc=f"rendering {Path(path).name}", unit="frames", disable=not progress, file=sys.stderr
    )
    try:
        player.reset()
        renderer = scene_renderer(u.world)
        renderer.shadows = shadows
        camera = camera or FollowCamera(distance=camera_distance(u))
        if ghost_mode != "off":
            ghost_world = GhostWorld(u.character, rgba=GHOST_RGB + (1.0,))
            _attach_ghost(player, ghost_world, ghost_mode, camera)

        def draw():
            frame = renderer.render(camera, width, height, ghost=ghost_world, ghost_alpha=GHOST_ALPHA)
            return draw_text(frame, player.status()) if text else frame

        t_start = time.perf_counter()
        for frame in _frames_in_real_time(player, camera, n_frames, fps, draw):
            writer.append_data(frame)
            bar.update(1)
        elapsed = time.perf_counter() - t_start
    finally:
        bar.close()
        writer.close()
        if ghost_world is not None:
            ghost_world.close()
            player.ghost = None
    return dict(
        path=str(path),
        frames=n_frames,
        fps=fps,
        width=width,
        height=height,
        seconds=n_frames / fps,
        render_seconds=elapsed,
        episodes=player.episodes,
    )


def _attach_ghost(player: Player, ghost_world, ghost_mode: str, camera) -> None:
    """Show the reference in ``ghost_world`` over the character or beside it (camera pulled back)."""
    player.ghost = ghost_world
    player.ghost_mode = ghost_mode
    player.fit_beside(camera.right())
    player.update_ghost()
    if ghost_mode == "beside":
        camera.distance += 0.8 * player.ghost_offset


def _frames_in_real_time(player: Player, camera, n_frames: int, fps: float, draw):
    """Yield ``n_frames`` images, frame k of the state nearest to k / fps simulated seconds after
    the start: the player steps at its control rate and each state is drawn at most once."""
    dt = player.u.control_dt
    camera.follow(player.camera_target())
    t = 0.0  # simulated time shown by the current state
    frame = None
    k = 0
    while k < n_frames:
        if k / fps < t + 0.5 * dt - 1e-9:  # the current state is the nearest to frame k
            if frame is None:
                frame = draw()
            yield frame
            k += 1
            continue
        player.step()
        t += dt
        camera.follow(player.camera_target(), dt)
        frame = None


def contact_sheet(
    motion, path, frames: int = 8, character=None, width: int = 320, height: int = 320, columns: int = 4
) -> dict:
    """A PNG of ``frames`` poses of a clip played kinematically, at evenly spaced clip times
    (the first at 0, the last just before the end), tiled ``columns`` to a row, each from the
    side with the follow camera framing the whole character (:func:`camera_distance`, aimed at
    its bounding box) and labelled with its time. Returns a summary dict."""
    from PIL import Image, ImageDraw

    from mimic.sim.camera import FollowCamera, scene_renderer

    if frames < 1 or columns < 1:
        raise ViewerError("a contact sheet needs at least one frame and one column")
    from mimic.rebuild import make_env

    env = make_env(motion=motion, env_kwargs={"character": character} if character else None)
    try:
        u = env.unwrapped
        times = np.arange(frames) * u.clip.duration / frames
        rows = -(-frames // columns)
        sheet = Image.new("RGB", (columns * width, rows * height), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        camera = FollowCamera()
        for k, t in enumerate(times):
            env.reset(options={"time": float(t)})
            camera.distance = camera_distance(u, camera.fov)
            camera.follow(character_box(u)[0])
            img = scene_renderer(u.world).render(camera, width, height)
            x, y = (k % columns) * width, (k // columns) * height
            sheet.paste(Image.fromarray(img), (x, y))
            draw.text((x + 6, y + 6), f"{u.clip.name}  t = {t:.2f} s", fill=(20, 20, 20))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path)
    finally:
        env.close()
    return dict(path=str(path), frames=frames, times=times.tolist())


# ==================================================================================== GUI
GUI_HELP = (
    "keys: SPACE pause | N or RIGHT single step (paused) | R reset | G ghost overlay / "
    "beside / off | S slow motion x1 / x1/2 / x1/4 / x1/8 | C camera follow on / off | "
    "Q or ESC quit"
)
SPEEDS = (1.0, 0.5, 0.25, 0.125)
GUI_FOV_FACTOR = 0.72  # the window's 60 deg field of view vs the videos' 45 deg


class GuiScene:
    """The pybullet window: display copies of the simulated character (posed from the env's own
    DIRECT world every frame, so the physics is exactly what headless runs and evaluations
    see) and of the reference ghost (translucent)."""

    def __init__(self, character, gui_options: str = ""):
        from mimic.sim import camera as cam
        from mimic.sim.character import SimCharacter
        from mimic.sim.world import World, quiet_stdout

        try:
            with quiet_stdout():
                self.world = World(gui=True, gui_options=gui_options)
        except Exception as e:
            raise ViewerError(f"cannot open the pybullet window ({e}); use --video FILE to render headless") from None
        cam.gui_setup(self.world)
        cam.gui_rendering(self.world, False)
        self.body = SimCharacter(self.world, character, ghost=True)
        self.num_links = character.num_joints
        self.ghost = SimCharacter(self.world, character, ghost=True, rgba=GHOST_RGB + (0.35,))
        self.ghost_shown = True
        cam.gui_rendering(self.world, True)

    def show_ghost(self, on: bool):
        from mimic.sim.camera import set_body_color

        if on != self.ghost_shown:
            set_body_color(self.world, self.ghost.body, GHOST_RGB + (0.35 if on else 0.0,), self.num_links)
            self.ghost_shown = on

    def close(self):
        self.world.close()


class GuiControls:
    """The window's key state: pause, single step, ghost mode, slow motion, camera follow, quit."""

    def __init__(self, player: Player, scene: GuiScene, speed: float = 1.0):
        self.player, self.scene = player, scene
        self.paused, self.follow, self.quit = False, True, False
        self.speed_i = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - speed))

    @property
    def speed(self) -> float:
        return SPEEDS[self.speed_i]

    def read_keys(self) -> bool:
        """Apply the keys pressed since the last frame; returns whether to step this frame."""
        from mimic.sim import camera as cam

        step = not self.paused
        for key in cam.gui_keys(self.scene.world):
            if key == "space":
                self.paused = not self.paused
                step = False
            elif key in ("n", "right") and self.paused:
                step = True
            elif key == "r":
                self.player.reset()
            elif key == "g":
                self.next_ghost_mode()
            elif key == "s":
                self.speed_i = (self.speed_i + 1) % len(SPEEDS)
            elif key == "c":
                self.follow = not self.follow
            elif key in ("q", "escape"):
                self.quit = True
        return step

    def next_ghost_mode(self):
        from mimic.sim import camera as cam

        player = self.player
        player.ghost_mode = GHOST_MODES[(GHOST_MODES.index(player.ghost_mode) + 1) % len(GHOST_MODES)]
        if player.ghost_mode == "beside":
            player.fit_beside(cam.camera_right(cam.gui_camera(self.scene.world)["view"]))
        self.scene.show_ghost(player.ghost_mode != "off")
        player.update_ghost()

    def status(self) -> str:
        text = self.player.status() + ("   PAUSED" if self.paused else "")
        return text + (f"   x{self.speed:g}" if self.speed != 1.0 else "")


def _place_gui_camera(player: Player, scene: GuiScene, ghost_mode: str) -> None:
    """Aim the window's camera at the character (farther back for a beside ghost) and pose the
    ghost and the display copy."""
    from mimic.sim import camera as cam

    world, u = scene.world, player.u
    player.ghost = scene.ghost
    player.ghost_mode = ghost_mode
    scene.show_ghost(ghost_mode != "off")
    gui_distance = GUI_FOV_FACTOR * camera_distance(u)
    cam.gui_follow(world, player.camera_target(), yaw=0.0, pitch=-12.0, distance=gui_distance)
    player.fit_beside(cam.camera_right(cam.gui_camera(world)["view"]))
    player.update_ghost()
    if ghost_mode == "beside":
        cam.gui_follow(
            world, player.camera_target(), distance=gui_distance + GUI_FOV_FACTOR * 0.8 * player.ghost_offset
        )
    cam.mirror_pose(u.sim, scene.body)


def run_gui(
    player: Player,
    seconds: float | None = None,
    episodes: int | None = None,
    ghost_mode: str = "overlay",
    screenshot=None,
    speed: float = 1.0,
    gui_options: str = "",
    help_stream=sys.stderr,
) -> dict:
    """Play in a pybullet window until it closes, Q / ESC, ``seconds`` of simulated time or
    ``episodes`` episodes. ``screenshot``: save what the window shows at the end (PNG)."""
    from mimic.sim import camera as cam

    u = player.u
    scene = GuiScene(u.character, gui_options)  # first: pybullet reports the window camera
    player.reset()  # only for the first connection
    world = scene.world
    try:
        _place_gui_camera(player, scene, ghost_mode)
        text = cam.GuiText(world)
        if help_stream is not None:
            print(GUI_HELP, file=help_stream)
        keys = GuiControls(player, scene, speed)
        sim_time, dt = 0.0, u.control_dt
        next_tick = time.perf_counter()
        target = player.camera_target()
        try:
            while cam.gui_connected(world) and not keys.quit:
                if keys.read_keys():
                    before = player.episodes
                    player.step()
                    sim_time += dt
                    if episodes is not None and player.episodes > before and player.episodes > episodes:
                        break
                    if seconds is not None and sim_time >= seconds - 1e-9:
                        keys.quit = True
                cam.mirror_pose(u.sim, scene.body)
                if keys.follow:
                    goal = player.camera_target()
                    target = goal if player.just_reset else target + (1.0 - math.exp(-dt / 0.15)) * (goal - target)
                    cam.gui_follow(world, target)
                text.show(keys.status(), player.root_position() + np.array([0.0, 1.1, 0.0]))
                next_tick += dt / keys.speed
                delay = next_tick - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_tick = time.perf_counter()
        except cam.GUI_ERRORS:  # the window was closed under us
            if cam.gui_connected(world):
                raise
        res = dict(seconds=sim_time, episodes=player.episodes, screenshot=None)
        if screenshot is not None and cam.gui_connected(world):
            res.update(_save_screenshot(world, scene, screenshot))
        return res
    finally:
        player.ghost = None
        scene.close()


def _save_screenshot(world, scene: GuiScene, path) -> dict:
    """The window's image as a PNG, and how many pixels show the character and its ghost."""
    from PIL import Image

    from mimic.sim import camera as cam

    img, seg = cam.gui_screenshot(world, segmentation=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return dict(
        screenshot=str(path),
        character_pixels=int((seg == scene.body.body).sum()),
        ghost_pixels=int((seg == scene.ghost.body).sum()),
    )


def default_video_path(model, motion) -> Path:
    stem = Path(model).stem if model else Path(str(motion)).stem
    if model and Path(model).stem == "model":  # output/<run>/model.pt -> <run>
        stem = Path(model).resolve().parent.name or stem
    return Path("output") / "videos" / f"{stem}.mp4"


def has_display() -> bool:
    """Whether a pybullet window can open: on Linux only with an X / Wayland display."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True
