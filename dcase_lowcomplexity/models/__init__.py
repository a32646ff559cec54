"""One module per network: binary_resnet ([R1]); aclnet, student, teacher, gccgram ([R2])."""
