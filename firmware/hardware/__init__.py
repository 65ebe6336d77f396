"""The HX711 hardware: the driver's frame read, a bit-level emulated chip, and the wiring doctor.

Nothing is imported here: ``firmware.hardware.hx711`` pulls in Blinka, so it is
imported only where a real board is read.
"""
