"""Your own feature functions, shipped inside the Lambda asset.

Add a module here, redeploy (``npx cdk deploy``), and name its functions in the ``features`` setting as
``"custom_features.<module>:<function>"``. A function receives one series (a float64 numpy array in
time order) and its parameters as keyword arguments, and returns a number or a list of
``(name, value)`` pairs. Columns are named like tsfresh's:
``<kind>__<function>[__<param>_<value>...][__<name>]``. See :mod:`custom_features.example`.
"""
