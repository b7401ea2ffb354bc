"""The builder: a Dockerfile (dockerfile/) planned into stages and steps (plan/), solved
step by step (solver/) with the context (context/), overlay snapshots (snapshot/), runc
(runtime/) and the step cache (cache/), to an image in the store or an output."""
