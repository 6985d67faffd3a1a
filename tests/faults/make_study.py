"""Set up a study for the fault tests, in the stack's database; prints one JSON line.

Run as a script in the stack's environment (``python tests/faults/make_study.py ...``): a
coordinator and N observers, each with an API token, an active study, one small synthetic
sequence (a folder of PNG frames) assigned to every observer. Everything after this goes
through HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowd.settings")


def _frames(folder: Path, n_frames: int, size: int) -> Path:
    """A bright disc moving over a dark textured background: something to segment."""
    import imageio.v3 as iio
    import numpy as np

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = np.mgrid[:size, :size]
    for t in range(n_frames):
        image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        cy, cx = size / 2, size / 3 + t * size / (3 * n_frames)
        disc = (rows - cy) ** 2 + (cols - cx) ** 2 < (size / 6) ** 2
        image[disc] = (220, 180, 160)
        iio.imwrite(folder / f"frame{t:03d}.png", image)
    return folder


def _gaze(path: Path, observer: str, n_frames: int, size: int, seed: int) -> Path:
    """60 Hz samples near the disc's centre (as _frames moves it), 8 per frame."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lines = ["observer,t_ms,frame,x,y"]
    for t in range(n_frames):
        cy, cx = size / 2, size / 3 + t * size / (3 * n_frames)
        for i in range(8):
            x, y = cx + rng.normal(0, size / 30), cy + rng.normal(0, size / 30)
            lines.append(f"{observer},{(t * 8 + i) * 1000 / 60:.1f},{t},{x:.2f},{y:.2f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="faults")
    parser.add_argument("--observers", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--quorum", type=int, default=99)
    parser.add_argument("--repeats", type=int, default=1,
                        help="recordings each observer may make of each sequence (1-100)")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--gaze", action="store_true",
                        help="import a finished recording per observer, looking at the disc")
    parser.add_argument("--run-chunk-frames", type=int, default=0,
                        help="then start a run with this chunk size (its id is printed)")
    parser.add_argument("--users-only", action="store_true",
                        help="only create the users, with passwords (the rest goes through HTTP)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    from crowd import services
    from crowd.models import Study, StudyMembership

    if args.users_only:
        users = {"coordinator": f"{args.name}-coordinator",
                 "observers": [f"{args.name}-observer{k}" for k in range(args.observers)]}
        password = "faults-" + args.name
        for name in [users["coordinator"], *users["observers"]]:
            services.user_get_or_create(username=name, password=password)
        print(json.dumps({**users, "password": password}))
        return
    with transaction.atomic():
        coordinator = services.user_get_or_create(username=f"{args.name}-coordinator")
        study = services.study_create(
            name=args.name, created_by=coordinator, target_structure="disc",
            quorum=args.quorum, repeats_per_observer=args.repeats, status=Study.Status.ACTIVE,
        )
        sequence = services.sequence_import(
            study=study, path=_frames(args.workdir / f"{args.name}-frames", args.frames, args.size),
            name="disc",
        )
        observers = []
        for k in range(args.observers):
            user = services.user_get_or_create(username=f"{args.name}-observer{k}")
            services.membership_set(study=study, user=user, role=StudyMembership.Role.OBSERVER)
            services.assignment_create(sequence=sequence, observer=user)
            observers.append(
                {"username": user.username, "token": Token.objects.get_or_create(user=user)[0].key}
            )
    run_id = None
    if args.gaze:
        from annotation import services as annotation_services

        for k, observer in enumerate(observers):
            path = _gaze(args.workdir / f"{args.name}-gaze{k}.csv", observer["username"],
                         args.frames, args.size, k)
            user = services.user_get_or_create(username=observer["username"])
            annotation_services.recording_import_file(sequence=sequence, observer=user, path=path,
                                                      fmt="csv", ensure_member=True)
    if args.run_chunk_frames:
        from segmentation import services as seg_services

        with transaction.atomic():
            (run,) = seg_services.study_run_create(
                study=study, sequence=sequence,
                parameters={"compare": False, "chunk_frames": args.run_chunk_frames})
        run_id = run.pk
    print(json.dumps({
        "study": study.pk, "sequence": sequence.pk, "frames": args.frames, "size": args.size,
        "run": run_id,
        "coordinator": {"username": coordinator.username,
                        "token": Token.objects.get_or_create(user=coordinator)[0].key},
        "observers": observers,
    }))


if __name__ == "__main__":
    main()
